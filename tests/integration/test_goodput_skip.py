"""Goodput against a simulator that skips audio beyond its capacity, as WhisperLive does under overload.

`loadgen simulate --skip-overload --capacity 2` answers at its 0.1 s base lag at any load and, beyond 2
streams, passes over a share 1 - 2/N of every stream's audio: the transcript frontier jumps the skipped
audio, so throughput keeps rising with the clients, while the speech no segment covered grows with them
and goodput stays near the capacity. Per-file sessions (4-7.3 s files, a 0.5 s settle) end inside each
8 s window, so the windows count their untranscribed speech.
"""

from __future__ import annotations

import pytest

from loadgen.cli.entry import main
from loadgen.report.edge.inputs import read_inputs
from loadgen.report.model.report import build_report
from loadgen.report.model.usl import usl_throughput
from tests.simulator_process import ramp_command, simulator

FILES = 11  # the corpus's first 11 files: 4.0-7.3 s each, so every session (its tail 0.5 s) ends within 8 s


@pytest.mark.timeout(180)
def test_throughput_keeps_rising_while_goodput_flattens(generated_corpus, free_port, tmp_path):
    run = tmp_path / "run"
    args = ["--skip-overload"]
    with simulator(generated_corpus, free_port(), tmp_path / "sim.log", 2, 0.1, 1.0, *args) as url:
        flags = ["--steps", "1,2,4,8", "--keep-going", "--mode", "per-file", "--warmup", "1", "--hold", "8"]
        flags += ["--limit", str(FILES), "--settle", "0.5", "--connect-rate", "20", "--no-live"]
        code = main(ramp_command(url, generated_corpus, run, *flags))
    report = build_report(read_inputs(run, None, lambda line: None))
    rows = {r.clients: r for r in report.rows}
    throughput = {n: r.throughput or 0.0 for n, r in rows.items()}
    goodput = {n: r.goodput or 0.0 for n, r in rows.items()}
    assert code == 0 and sorted(rows) == [1, 2, 4, 8]
    # throughput keeps rising with the clients: the frontier jumps over the skipped audio
    assert throughput[1] < throughput[2] < throughput[4] < throughput[8]
    assert throughput[8] > 1.3 * throughput[4]
    # goodput does not: at 8 clients three quarters of every stream was skipped
    assert goodput[2] == pytest.approx(throughput[2], rel=0.1)
    assert goodput[8] < 0.6 * throughput[8] and goodput[8] < 1.6 * goodput[2]
    # the verdict: capacity 2, the words of the skipped audio missing from 4 clients on
    assert report.capacity.max_clients == 2 and report.capacity.first_failing_clients == 4
    assert any("WER" in detail for detail in rows[4].failed)
    # what saturated first names where goodput stopped rising, with throughput still rising beside it
    assert report.saturation.goodput_peak_clients in (2, 4)
    assert "goodput stopped rising at" in report.saturation.headline
    # the USL, fitted to goodput, does not follow throughput up
    assert report.usl is not None
    assert float(usl_throughput(8, report.usl.lam, report.usl.sigma, report.usl.kappa)) < 0.6 * throughput[8]
