"""Benchmark: what upstream's batch worker saves on one CPU thread (`tiny.en`, int8).

CPU time per call, one thread, median of `--repeats`, for requests of corpus speech (the first 4
files, 5-7 s each): faster-whisper's `transcribe` as single-model mode runs it (beam 5, temperature
fallback), and upstream's `BatchInferenceWorker` (greedy) for a batch of 1, 2 and 4 requests against
as many one after the other. Part of the WhisperLive-side figure in docs/PERFORMANCE.md; run it pinned
and under the lock:

    OMP_NUM_THREADS=1 taskset -c 1 python -m bench.batch_cost [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before ctranslate2 loads

import soundfile as sf
from faster_whisper import WhisperModel
from whisper_live.batch_inference import BatchInferenceWorker, BatchRequest, prepare_features

from whisperlive.models import resolve_model

CORPUS = Path("test_audio/corpus")


def cpu_seconds(call: Callable[[], object], repeats: int) -> float:
    """Median CPU time of `call` over `repeats` runs."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        call()
        times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> int:
    """Print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per case, the median is kept (5)")
    args = parser.parse_args()
    model = WhisperModel(str(resolve_model("tiny.en").path), device="cpu", compute_type="int8", cpu_threads=1)
    worker = BatchInferenceWorker(model, max_batch_size=4)
    audio = [sf.read(path, dtype="float32")[0] for path in sorted(CORPUS.glob("*.wav"))[:4]]

    def batch(n: int) -> None:
        requests = [BatchRequest(audio=a, language="en") for a in audio[:n]]
        if n == 1:  # the worker hands a lone request to `transcribe` (greedy), as upstream does
            worker._process_single(requests[0])
            return
        for request in requests:  # VAD and features: in the session threads upstream, same cores here
            prepare_features(model, request)
        worker._process_multi(requests)

    def one_by_one(n: int) -> None:
        for a in audio[:n]:
            worker._process_single(BatchRequest(audio=a, language="en"))

    def beam5() -> None:
        list(model.transcribe(audio[0], language="en", vad_filter=True)[0])

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("single-model transcribe (beam 5)", beam5, 1),
        ("batch worker, batch of 1 (greedy)", lambda: batch(1), 1),
        ("batch worker, 2 one after the other", lambda: one_by_one(2), 2),
        ("batch worker, batch of 2", lambda: batch(2), 2),
        ("batch worker, 4 one after the other", lambda: one_by_one(4), 4),
        ("batch worker, batch of 4", lambda: batch(4), 4),
    ]
    for _, call, _ in cases:  # warm up every path once
        call()
    for name, call, requests in cases:
        seconds = cpu_seconds(call, args.repeats)
        print(f"{name}: {seconds:.3f} s CPU, {seconds / requests:.3f} s per request", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
