"""loadgen's /metrics during and after a real run against a real tiny.en WhisperLive."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.core.protocol import StreamOptions
from loadgen.data.corpus import load_corpus
from loadgen.data.results_file import JsonlWriter, read_results
from loadgen.live.runner import LoadRunner, LoadShape
from loadgen.live.session import SessionSettings
from loadgen.telemetry.metrics import LoadgenMetrics
from tests.corpus_clips import clipped

pytestmark = pytest.mark.integration
CLIP_S = 4.0  # each session streams the first 4 s of a file: time for transcripts, not for a whole file


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def test_metrics_match_the_jsonl_after_a_real_run(
    whisperlive_server, generated_corpus, tmp_path, free_port
):
    port = free_port()
    metrics = LoadgenMetrics()
    metrics.serve(port)
    out = tmp_path / "sessions.jsonl"
    writer = JsonlWriter(out)
    settings = SessionSettings(url=whisperlive_server.url, options=StreamOptions(uid=""), settle_s=2.0)
    corpus = clipped(load_corpus(generated_corpus, limit=2), CLIP_S)
    runner = LoadRunner(settings, corpus, LoadShape(num_clients=2, connect_rate=10), metrics, [writer.write])
    run = asyncio.create_task(runner.run())

    during: dict = {}
    for _ in range(100):
        await asyncio.sleep(0.2)
        during = await asyncio.to_thread(scrape, port)
        if during[("loadgen_active_clients", ())] == 2:
            break
    assert during[("loadgen_active_clients", ())] == 2
    assert during[("loadgen_target_clients", ())] == 2
    await run
    writer.close()

    results, _ = read_results(out)
    after = await asyncio.to_thread(scrape, port)
    assert len(results) == 4 and all(r.outcome == "ok" for r in results)
    assert after[("loadgen_active_clients", ())] == 0
    assert total(after, "loadgen_transcript_lag_seconds_count") == sum(
        len(r.transcript_lags_s) for r in results
    )
    assert total(after, "loadgen_finalization_lag_seconds_count") == sum(
        len(r.finalization_lags_s) for r in results
    )
    assert total(after, "loadgen_send_slip_seconds_count") == sum(len(r.send_slips_s) for r in results)
    assert total(after, "loadgen_sessions_total") == 4
    assert after[("loadgen_sessions_total", (("outcome", "ok"), ("replica", "")))] == 4
    assert after[("loadgen_sessions_total", (("outcome", "refused"), ("replica", "")))] == 0
    assert total(after, "loadgen_word_errors_total") == sum(r.word_errors.errors for r in results)
    deleted = after[("loadgen_word_errors_total", (("kind", "deletion"),))]
    assert deleted == sum(r.word_errors.deletions for r in results)
    assert total(after, "loadgen_audio_untranscribed_seconds_total") == pytest.approx(
        sum(r.audio_untranscribed_s for r in results), abs=0.01
    )
    assert total(after, "loadgen_reference_words_total") == sum(
        r.word_errors.reference_words for r in results
    )
    assert total(after, "loadgen_audio_sent_seconds_total") == pytest.approx(
        sum(r.audio_sent_s for r in results)
    )
    assert total(after, "loadgen_first_text_latency_seconds_count") == 4
