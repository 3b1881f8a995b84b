"""`loadgen sweep`: each configuration of a matrix deployed, ramped to its knee, stopped (docs/SWEEP.md)."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from loadgen.cli.commands.common import positive_int
from loadgen.core.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, UserError
from loadgen.core.sweep_state import DONE
from loadgen.data.run_dir import SWEEP_JSON
from loadgen.report.edge.sweep import SWEEP_MD, write_sweep_report
from loadgen.report.model.sweep import SweepReport
from loadgen.sweep.compose import ComposeTarget
from loadgen.sweep.kubernetes import KubernetesTarget
from loadgen.sweep.runner import Sweep, SweepPlan, load_plan
from loadgen.sweep.targets import (
    COMPOSE,
    KUBERNETES,
    LOCAL,
    SIMULATOR,
    TARGETS,
    SimulatorModel,
    StackTarget,
    Target,
)

DEFAULT_BASE_PORT = 9090  # the local stack's balancer (docs/PORTS.md)
STACK_DIR = "stack"  # the local stack's run directory inside the sweep directory


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `sweep` parser."""
    sweep = commands.add_parser(
        "sweep",
        help="deploy each configuration of a matrix (server settings x workload), find its capacity",
        description="For each configuration: restart the replicas with its settings, wait for a handshake, "
        "run the adaptive ramp, stop them. Resumable: a second call skips the configurations done.",
    )
    sweep.add_argument(
        "--matrix", type=Path, required=True, metavar="FILE", help="TOML or YAML (docs/SWEEP.md)"
    )
    sweep.add_argument("--out", type=Path, required=True, metavar="DIR", help="the sweep directory")
    sweep.add_argument(
        "--target", choices=TARGETS, help="where the replicas run (the matrix's [sweep] target, else local)"
    )
    sweep.add_argument(
        "--no-warm-start",
        action="store_true",
        help="search every configuration from scratch (no bracket from the knees already found)",
    )
    sweep.add_argument(
        "--repeat",
        type=positive_int,
        metavar="R",
        help="each ramp's --repeat (the matrix's [sweep] repeat, 1)",
    )
    sweep.add_argument(
        "--base-port",
        type=positive_int,
        default=DEFAULT_BASE_PORT,
        metavar="P",
        help="local/simulator: the stack's balancer port; the others move with it (%(default)s)",
    )
    sweep.set_defaults(handler=command_sweep)


def command_sweep(args: argparse.Namespace, console: Console) -> int:
    """Exit 0 when every configuration is done and one found a capacity; 1 when one failed or none found
    a capacity; 130 when interrupted. The comparison report is written in every case."""
    plan = load_plan(args.matrix)
    target = make_target(args.target or plan.target or LOCAL, plan, args.out, args.base_port)
    sweep = Sweep(
        plan, args.out, target, not args.no_warm_start, args.repeat or plan.repeat, say=_say(console)
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        state = sweep.run()
    except KeyboardInterrupt:
        console.print(f"interrupted: sweep.json in {args.out} says where it stopped; run again to resume")
        _report(args.out, console)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    for run in state.configs:
        capacity = "-" if run.capacity is None else f"{run.capacity:g}"
        console.print(f"  {run.config.id:<28} {run.status:<8} capacity {capacity:>5}  {run.steps or 0} steps")
    report = _report(args.out, console)
    best = state.best() if report is None else report.decision.best  # one rule (sweep_state.rank_key)
    _say(console)(f"best: {best or 'none'}; wall time {state.wall_s:.0f} s; {args.out / SWEEP_JSON}")
    finished = all(r.status == DONE for r in state.configs)
    return EXIT_OK if finished and best is not None else EXIT_FAILED


def _report(out: Path, console: Console) -> SweepReport | None:
    """Write the comparison report and print where. A report that cannot be written is one line (None),
    and the sweep's exit code stands."""
    try:
        report = write_sweep_report(out)
    except (UserError, OSError, ValueError) as exc:
        console.print(f"could not write the sweep report: {exc}", highlight=False, soft_wrap=True)
        return None
    console.print(f"report: {out / SWEEP_MD}", highlight=False, soft_wrap=True)
    return report


def make_target(name: str, plan: SweepPlan, out: Path, base_port: int) -> Target:
    """The target named `name`; UsageError for one this build cannot restart."""
    if name in (LOCAL, SIMULATOR):
        simulator = SimulatorModel.from_matrix(plan.matrix.get("simulator")) if name == SIMULATOR else None
        return StackTarget(out / STACK_DIR, base_port, simulator, plan.ready_timeout_s)
    if name == COMPOSE:
        return ComposeTarget.from_env(**target_table(plan.matrix, COMPOSE, COMPOSE_KEYS))
    if name == KUBERNETES:
        return KubernetesTarget(**target_table(plan.matrix, KUBERNETES, KUBERNETES_KEYS))
    raise UsageError(f"--target {name}: use one of {', '.join(TARGETS)}")


COMPOSE_KEYS = ("url", "service", "project")  # ComposeTarget.from_env's
KUBERNETES_KEYS = ("url", "namespace", "deployment", "container", "context")  # KubernetesTarget's


def target_table(matrix: Mapping[str, Any], name: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The matrix's [compose] or [kubernetes] table as the target's keyword arguments: strings, `url`
    (the balancer as this generator reaches it) required; UsageError with one line otherwise."""
    table = matrix.get(name, {})
    if not isinstance(table, Mapping) or set(table) - set(keys):
        raise UsageError(f"matrix [{name}]: a table of the keys {', '.join(keys)}")
    if bad := [k for k, v in table.items() if not isinstance(v, str) or not v]:
        raise UsageError(f"matrix [{name}]: {', '.join(bad)} must be non-empty strings")
    if "url" not in table:
        raise UsageError(
            f"--target {name} needs the balancer's URL as this generator reaches it: "
            f'[{name}] url = "ws://HOST:PORT" in the matrix'
        )
    return dict(table)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the sweep as Ctrl-C does."""
    raise KeyboardInterrupt


def _say(console: Console) -> Callable[[str], None]:
    return lambda line: console.print(line, highlight=False, soft_wrap=True)
