"""A sweep's loop: for each configuration, deploy it, wait for a handshake, ramp it, stop it (docs/SWEEP.md).

The ramps run as subprocesses (`python -m loadgen ramp --run-dir <sweep>/configs/<id> ...`): a ramp that
crashes or hangs cannot take the sweep with it, and its run directory is the contract (run.json's
outcome), the same one `loadgen report` and `compare` read. sweep.json is rewritten atomically after
every change of state, so a killed sweep resumes: the done configurations are skipped, any other one
runs again from scratch (its old run directory moved to `stale/`).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomllib

from loadgen.core import sweep_state
from loadgen.core.errors import SetupError, UsageError, UserError
from loadgen.core.matrix import SweepConfig, expand
from loadgen.core.records import StepRecord
from loadgen.core.sweep_state import DONE, INTERRUPTED, ConfigRun, RampResult, SweepState
from loadgen.data.results_file import write_json
from loadgen.data.run_dir import STEPS, SWEEP_JSON, RunDir
from loadgen.live.handshake import wait_ready
from loadgen.sweep.targets import Target

STALE = "stale"  # where a rerun configuration's old run directory goes
LOGS = "logs"  # each configuration's ramp output
SWEEP_KEYS = ("target", "repeat", "ready_timeout")
SET_BY_SWEEP = ("--url", "--run-dir", "--bracket", "--repeat", "--shard", "--control")
DEFAULT_MAX_CLIENTS = 256  # ramp's --max-clients default
INTERRUPT_GRACE_S = 30.0  # an interrupted ramp's time to judge and write what it measured


@dataclass(frozen=True)
class SweepPlan:
    """A matrix file, parsed and expanded."""

    matrix_file: Path
    matrix: Mapping[str, Any]
    configs: tuple[SweepConfig, ...]
    target: str | None  # [sweep] target
    repeat: int  # [sweep] repeat
    ready_timeout_s: float  # [sweep] ready_timeout: seconds for a deployment to answer a handshake
    ramp_args: tuple[str, ...]  # [ramp] args: flags of every configuration's ramp

    @property
    def max_clients(self) -> int:
        """The ramps' --max-clients (a predicted bracket stays below it)."""
        args = list(self.ramp_args)
        return int(args[args.index("--max-clients") + 1]) if "--max-clients" in args else DEFAULT_MAX_CLIENTS

    @property
    def explicit(self) -> bool:
        """Whether the ramps run explicit --steps (then no bracket applies)."""
        return "--steps" in self.ramp_args


def load_plan(path: Path) -> SweepPlan:
    """Read a TOML (.toml) or YAML (.yaml, .yml) matrix file; UsageError with one line when it is bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--matrix {path}: {exc.strerror}") from exc
    return plan_of(path, parse_matrix(path.name, text))


def parse_matrix(name: str, text: str) -> dict[str, Any]:
    """The matrix document by its file name's extension."""
    if name.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError as exc:
            raise UsageError(f"--matrix {name}: YAML needs pyyaml (pip install pyyaml), or use TOML") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"--matrix {name}: not YAML ({str(exc).splitlines()[0]})") from exc
    elif name.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"--matrix {name}: not TOML ({exc})") from exc
    else:
        raise UsageError(f"--matrix {name}: name it .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise UsageError(f"--matrix {name}: expected a table of sections ([server], [workload], ...)")
    return data


def plan_of(path: Path, matrix: Mapping[str, Any]) -> SweepPlan:
    """The plan of a parsed matrix; UsageError with one line when it is bad."""
    configs = expand(matrix)
    sweep = matrix.get("sweep", {})
    if not isinstance(sweep, Mapping) or set(sweep) - set(SWEEP_KEYS):
        raise UsageError(f"matrix [sweep]: a table of the keys {', '.join(SWEEP_KEYS)}")
    ramp = matrix.get("ramp", {})
    args = ramp.get("args", []) if isinstance(ramp, Mapping) and set(ramp) <= {"args"} else None
    if not isinstance(args, list) or not all(isinstance(a, str | int | float) for a in args):
        raise UsageError('matrix [ramp]: one key, args = ["--flag", "value", ...] (the ramps\' common flags)')
    if taken := [a for a in map(str, args) if a.split("=")[0] in SET_BY_SWEEP]:
        raise UsageError(f"matrix [ramp] args: {' '.join(taken)} is set by the sweep ([sweep] repeat, --out)")
    repeat, ready = sweep.get("repeat", 1), sweep.get("ready_timeout", 300)
    if not isinstance(repeat, int) or repeat < 1 or not isinstance(ready, int | float) or ready <= 0:
        raise UsageError("matrix [sweep]: repeat must be an integer >= 1 and ready_timeout seconds > 0")
    target = sweep.get("target")
    plan = SweepPlan(path, matrix, configs, target, repeat, float(ready), tuple(map(str, args)))
    try:
        plan.max_clients  # noqa: B018 - validates --max-clients
    except (ValueError, IndexError) as exc:
        raise UsageError("matrix [ramp] args: --max-clients needs a whole number") from exc
    return plan


def ramp_command(
    plan: SweepPlan, run: ConfigRun, url: str, run_dir: Path, repeat: int, target_info: Mapping[str, Any]
) -> list[str]:
    """The configuration's `loadgen ramp` argv."""
    extra: list[str] = []
    if "--replicas" not in plan.ramp_args:
        extra += ["--replicas", str(run.config.server.replicas)]
    for key, flag in (("prometheus_url", "--prometheus-url"), ("loadgen_metrics_port", "--metrics-port")):
        if target_info.get(key) and flag not in plan.ramp_args:
            extra += [flag, str(target_info[key])]
    if run.bracket:
        extra += ["--bracket", f"{run.bracket[0]},{run.bracket[1]}"]
    if run.baseline_wer is not None:
        extra += ["--baseline-wer", f"{run.baseline_wer:g}"]
    if repeat > 1:
        extra += ["--repeat", str(repeat)]
    return [
        *(sys.executable, "-m", "loadgen", "ramp", "--url", url, "--run-dir", str(run_dir), "--no-live"),
        *plan.ramp_args,
        *run.config.ramp_args,
        *extra,
    ]


def ramp_result(run_dir: Path, code: int, log: Path) -> RampResult:
    """What the ramp in `run_dir` found (run.json's outcome, steps.jsonl's judged steps)."""
    steps = len(RunDir(run_dir).read_records(STEPS)[0]) if (run_dir / STEPS).is_file() else 0
    try:
        outcome = RunDir(run_dir).read_manifest().get("outcome")
    except UserError:
        outcome = None
    if not isinstance(outcome, Mapping):
        error = f"the ramp exited {code} with no outcome; see {log}"
        return RampResult(steps, None, None, None, None, error, judged=False)
    capacity = outcome.get("capacity")
    return RampResult(
        steps=steps,
        capacity=capacity,
        low=outcome.get("low", capacity),
        high=outcome.get("high", capacity),
        first_failure=outcome.get("first_failure"),
        error=None if capacity is not None else str(outcome.get("reason") or f"no capacity (exit {code})"),
    )


class Sweep:
    """One sweep directory: its state, saved after every change, and the loop over its configurations."""

    def __init__(
        self,
        plan: SweepPlan,
        out: Path,
        target: Target,
        warm_start: bool,
        repeat: int,
        say: Callable[[str], None] = print,
    ) -> None:
        self.plan, self.out, self.target, self.say = plan, out, target, say
        self.warm_start, self.repeat = warm_start, repeat
        self._clock_start = time.monotonic()
        self._wall_before = 0.0
        self.state = self._initial_state()

    def _initial_state(self) -> SweepState:
        path = self.out / SWEEP_JSON
        now = time.time()
        matrix = json.loads(json.dumps(self.plan.matrix, default=str))  # as sweep.json holds it
        runs = tuple(ConfigRun(c) for c in self.plan.configs)
        started = now
        if path.is_file():
            try:
                previous = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise SetupError(f"{path}: not JSON ({exc}); use a new --out") from exc
            runs = sweep_state.resume(previous, self.plan.configs, matrix)
            if previous.get("target") != self.target.name:
                raise SetupError(
                    f"{path} is a sweep on the {previous.get('target')} target, not {self.target.name}: "
                    "use its --target, or a new --out"
                )
            started = float(previous.get("started_at", now))
            self._wall_before = float(previous.get("wall_s", 0.0))
        return SweepState(
            matrix_file=str(self.plan.matrix_file),
            matrix=matrix,
            target=self.target.name,
            target_info=self.target.describe(),
            started_at=started,
            updated_at=now,
            wall_s=self._wall_before,
            warm_start=self.warm_start,
            repeat=self.repeat,
            configs=runs,
        )

    def save(self, run: ConfigRun | None = None) -> None:
        """Record `run`'s new state (or only the time) in sweep.json, atomically."""
        wall = self._wall_before + time.monotonic() - self._clock_start
        if run is None:
            self.state = replace(self.state, updated_at=time.time(), wall_s=round(wall, 3))
        else:
            self.state = self.state.with_run(run, time.time(), wall)
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(self.out / SWEEP_JSON, self.state.to_json())

    def run(self) -> SweepState:
        """Every configuration not done yet, in matrix order; KeyboardInterrupt marks the one running
        interrupted, stops the target and propagates."""
        self.save()
        total = len(self.state.configs)
        for index, run in enumerate(self.state.configs, 1):
            if run.status == DONE:
                self.say(f"[{index}/{total}] {run.config.id}: done before ({_found(run)}), skipped")
                continue
            self._one(index, total, run)
        self.save()
        return self.state

    def _one(self, index: int, total: int, run: ConfigRun) -> None:
        run_dir = self.out / run.run_dir
        _move_aside(run_dir, self.out / STALE)
        bracket, baseline = None, None
        if self.warm_start and not self.plan.explicit:
            found = self.state.configs
            bracket = sweep_state.predict_bracket(
                run.config.server, run.config.workload, found, self.plan.max_clients
            )
        if bracket and "--baseline-wer" not in {*self.plan.ramp_args, *run.config.ramp_args}:
            baseline = self._known_baseline(run)
        run = sweep_state.start(run, time.time(), bracket, baseline)
        self.save(run)
        guess = ", explicit --steps" if self.plan.explicit else ", cold search"
        guess = f", bracket {bracket[0]},{bracket[1]}" if bracket else guess
        self.say(f"[{index}/{total}] {run.config.id}: deploying {' '.join(run.config.server.serve_args())}")
        interrupted = False
        try:
            url = self.target.deploy(run.config.server)
            ready_s = wait_ready(url, self.plan.ready_timeout_s)
            self.say(f"[{index}/{total}] {run.config.id}: ready at {url} ({ready_s:.1f} s); ramp{guess}")
            log = self.out / LOGS / f"{run.config.id}.log"
            command = ramp_command(self.plan, run, url, run_dir, self.repeat, self.state.target_info)
            code = _run_ramp(command, log)
            run = sweep_state.finish(run, time.time(), ramp_result(run_dir, code, log))
        except KeyboardInterrupt:
            interrupted = True
            run = sweep_state.fail(run, time.time(), "interrupted (Ctrl-C or SIGTERM)", INTERRUPTED)
        except UserError as exc:
            run = sweep_state.fail(run, time.time(), str(exc))
        with _interrupts_deferred():  # the outcome is recorded and the target stopped, whatever comes
            self.save(run)
            self._stop()
        self.say(f"[{index}/{total}] {run.config.id}: {run.status}, {_found(run)} ({run.wall_s or 0:.0f} s)")
        if interrupted:
            raise KeyboardInterrupt

    def _known_baseline(self, run: ConfigRun) -> tuple[float, str] | None:
        """The WER measured at 1 client by an earlier done configuration of the same model and workload
        (its steps.jsonl), and that configuration's id; None when none measured one. A bracketed ramp
        starts loaded, so its own first step would make a loaded baseline (docs/SWEEP.md)."""
        for source in sweep_state.baseline_sources(run.config, self.state.configs):
            path = self.out / source.run_dir
            records = RunDir(path).read_records(STEPS)[0] if (path / STEPS).is_file() else []
            steps = [StepRecord.from_json(r) for r in records]
            wer = next((s.baseline_wer for s in steps if s.clients == 1 and s.baseline_wer is not None), None)
            if wer is not None:
                return wer, source.config.id
        return None

    def _stop(self) -> None:
        try:
            self.target.stop()
        except UserError as exc:
            self.say(f"could not stop the target: {exc}")


def _found(run: ConfigRun) -> str:
    if run.capacity is None:
        return run.error or "no capacity"
    spread = f" (range {run.low:g}-{run.high:g})" if run.low != run.high else ""
    return f"capacity {run.capacity:g}{spread} in {run.steps} steps"


def _move_aside(run_dir: Path, stale: Path) -> None:
    """A run directory left by an interrupted or failed attempt goes to `stale/<id>-<unix time>`."""
    if run_dir.exists():
        stale.mkdir(parents=True, exist_ok=True)
        shutil.move(str(run_dir), str(stale / f"{run_dir.name}-{time.time_ns()}"))


def _run_ramp(command: Sequence[str], log: Path) -> int:
    """The ramp subprocess, its output in `log`. On KeyboardInterrupt it gets SIGINT (if the terminal's
    did not reach it; SIGTERM where SIGINT is ignored, as in a background job, since it inherits that)
    and INTERRUPT_GRACE_S to write what it measured, then SIGKILL."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            return process.wait()
        except KeyboardInterrupt:
            if process.poll() is None:
                ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
                process.send_signal(signal.SIGTERM if ignored else signal.SIGINT)
            try:
                process.wait(timeout=INTERRUPT_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then raise KeyboardInterrupt."""
    caught: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        if previous[sig] != signal.SIG_IGN:
            signal.signal(sig, lambda signum, _: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt
