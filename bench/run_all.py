"""`make bench`: every benchmark, one after the other, bounded (15 minutes at most), never in CI.

Its ladders are the short ones (streams per core up to 2,500 clients, no sink check; the search at a
knee of 40); the long ladders of the headline figures are `make bench-long`.

Each benchmark runs as its own process under its time limit (or what is left of the 15 minutes) and
writes its JSON (or, for the exporter, its table) under `--out` (default `runs/bench/<UTC time>/`);
`docs/PERFORMANCE.md` says how to read them.
Run it on an otherwise idle machine: the load average before and after is recorded next to the results.

    python -m bench.run_all [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from bench.procs import REPO, load_average

# (name, module and arguments, time limit in seconds): the short ladders; `make bench-long` runs the long
# ones. The budget (docs/PERFORMANCE.md, "Time budget of make bench"): in run P the first six took at most
# 870 - 167 = 703 s (the search then completed its knee of 40: 167 s in run E). Ladders topped at 2,500
# and no sink check drop three steps of 3,000 streams that P ran (>= 30 s each: P's 120 s budget ended
# after its fourth step), so the first six take at most ~613 s and the search's one knee gets >= 257 s.
BENCHMARKS = (
    ("streams_per_core", ["bench.streams_per_core", "--budget", "120", "--top", "2500"], 430),
    ("accuracy", ["bench.accuracy"], 120),
    ("ws_send", ["bench.ws_send"], 100),
    ("recv_path", ["bench.recv_path"], 60),
    ("pacing", ["bench.pacing"], 30),
    ("exporter_scrape", ["bench.exporter_scrape"], 50),
    ("search_efficiency", ["bench.search_efficiency", "--knees", "40"], 300),  # last: gets what is left
)


TOTAL_S = 15 * 60 - 30  # all benchmarks together; a late one gets what is left


def run_bounded(command: list[str], log: IO[str], limit_s: float) -> int:
    """Run `command` in its own process group; past `limit_s` the whole group is stopped (exit -1)."""
    process = subprocess.Popen(
        command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        return process.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.write(f"stopped after {limit_s} s\n")
        return -1


def main() -> int:
    """Run every benchmark; the exit code is the number that failed to complete."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / time.strftime("%Y%m%dT%H%M%SZ",
                                                                                            time.gmtime()))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"results in {args.out}; load average {load_average()}", flush=True)
    failed = 0
    deadline = time.monotonic() + TOTAL_S
    for name, module, own_limit_s in BENCHMARKS:
        limit_s = round(min(own_limit_s, deadline - time.monotonic()))
        if limit_s < 10:
            print(f"== {name}: skipped, the 15 minutes are spent", flush=True)
            failed += 1
            continue
        command = [sys.executable, "-m", *module]
        if name != "exporter_scrape":
            command += ["--out", str(args.out / f"{name}.json")]
        print(f"== {name} (at most {limit_s} s): {' '.join(command[1:])}", flush=True)
        with open(args.out / f"{name}.txt", "w") as log:
            code = run_bounded(command, log, limit_s)
        print((args.out / f"{name}.txt").read_text(), flush=True)
        failed += code != 0
    print(f"load average after: {load_average()}")
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
