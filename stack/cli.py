"""Command line: `python -m stack up|down|status|replica|render` (behind scripts/local_stack.sh).

`replica ACTION N` is how `loadgen chaos` and `loadgen ramp --chaos` act on the local stack: through a
process boundary, as they act on Compose through the Docker API (loadgen never imports stack)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadgen.core.errors import EXIT_FAILED, EXIT_OK, UsageError, UserError
from stack.local import REPLICA_ACTIONS, LocalStack, SimulatorSettings, StackSettings
from stack.ports import BALANCER, LocalPorts
from stack.render import ROOT, committed_files

_DEFAULTS = StackSettings()
_SIM = SimulatorSettings()
BACKENDS = ("whisperlive", "simulator")


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; failures print one line on stderr with their exit code (loadgen/core/errors.py):
    1 failed or not all running, 2 bad flag."""
    parser = build_parser()
    args, replica_args = parser.parse_known_args(argv)
    if replica_args and args.command != "up":
        parser.error(f"unrecognized arguments: {' '.join(replica_args)}")
    try:
        return int(args.run(args, tuple(replica_args)))
    except UserError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return exc.exit_code


def build_parser() -> argparse.ArgumentParser:
    """The parser with its five subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m stack",
        description="The local scaled stack (replicas + nginx + exporters + Prometheus + Alertmanager).",
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        allow_abbrev=False,
        help="start N replicas, nginx, the exporters, Prometheus and Alertmanager on 127.0.0.1 and wait",
        epilog="Any other flag (e.g. --batch --batch-max-size 8) goes to every `whisperlive serve`.",
    )
    _add_up(up)
    for name, run, text in (
        ("down", _down, "stop exactly the processes `up` started"),
        ("status", _status, "report each process: running or dead, port listening or not"),
    ):
        sub = commands.add_parser(name, help=text)
        _add_run_dir(sub)
        sub.set_defaults(run=run)
    replica = commands.add_parser(
        "replica",
        help="fault injection: kill (SIGKILL), pause (SIGSTOP), resume (SIGCONT) or restart replica N; "
        "prints what was done in one line",
    )
    replica.add_argument("action", choices=REPLICA_ACTIONS)
    replica.add_argument("index", type=int, metavar="N", help="the replica, from 1")
    _add_run_dir(replica)
    replica.set_defaults(run=_replica)
    render = commands.add_parser("render", help="write the committed Compose and k8s renders")
    render.add_argument("--check", action="store_true", help="only check they are up to date (exit 1 if not)")
    render.set_defaults(run=_render)
    return parser


def _add_up(sub: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    sub.add_argument("--replicas", type=int, default=d.replicas, metavar="N", help="(%(default)s)")
    sub.add_argument("--model", default=d.model, help="every replica's --model (%(default)s)")
    sub.add_argument("--max-clients", type=int, default=d.max_clients, metavar="K", help="(%(default)s)")
    sub.add_argument("--omp-threads", type=int, metavar="T", help="every replica's OMP_NUM_THREADS")
    sub.add_argument(
        "--base-port",
        type=int,
        default=BALANCER,
        metavar="P",
        help="balancer port; every other port moves with it (docs/PORTS.md) (%(default)s)",
    )
    sub.add_argument(
        "--ready-timeout", type=float, default=d.ready_timeout_s, metavar="S", help="(%(default)g)"
    )
    sub.add_argument(
        "--alertmanager-config",
        type=Path,
        default=d.alertmanager_config,
        metavar="FILE",
        help="Alertmanager's config, e.g. a copy of alertmanager/receivers.example.yml (the repository's)",
    )
    _add_run_dir(sub)
    _add_simulator(sub)
    sub.set_defaults(run=_up)


def _add_simulator(sub: argparse.ArgumentParser) -> None:
    group = sub.add_argument_group(
        "simulator backend",
        "`--backend simulator`: `loadgen simulate` replicas, no model (loadgen/sim/model.py)",
    )
    group.add_argument(
        "--backend", choices=BACKENDS, default=BACKENDS[0], help="what replicas run (%(default)s)"
    )
    group.add_argument(
        "--audio-dir", type=Path, default=_SIM.audio_dir, help="the corpus the load uses (%(default)s)"
    )
    group.add_argument(
        "--capacity", type=int, default=_SIM.capacity, metavar="N", help="streams at the base lag"
    )
    group.add_argument("--base-lag", type=float, default=_SIM.base_lag_s, metavar="S", help="(%(default)g)")
    group.add_argument(
        "--per-stream-lag", type=float, default=_SIM.per_stream_lag_s, metavar="S", help="beyond --capacity"
    )


def _add_run_dir(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--run-dir", type=Path, default=_DEFAULTS.run_dir, help="(%(default)s)")


def _up(args: argparse.Namespace, replica_args: tuple[str, ...]) -> int:
    settings = StackSettings(
        replicas=args.replicas,
        model=args.model,
        max_clients=args.max_clients,
        omp_threads=args.omp_threads,
        replica_args=replica_args,
        run_dir=args.run_dir,
        ports=LocalPorts(args.base_port),
        ready_timeout_s=args.ready_timeout,
        simulator=_simulator(args),
        alertmanager_config=args.alertmanager_config,
    )
    stack = LocalStack(settings, log=_say)
    stack.up()
    _say(
        f"balancer {stack.balancer_url}, prometheus {stack.prometheus_url}, alertmanager "
        f"{stack.alertmanager_url}; stop with: scripts/local_stack.sh down --run-dir {args.run_dir}"
    )
    return EXIT_OK


def _simulator(args: argparse.Namespace) -> SimulatorSettings | None:
    """The simulator settings, or None for WhisperLive; simulator flags without it are refused."""
    sim = SimulatorSettings(args.audio_dir, args.capacity, args.base_lag, args.per_stream_lag)
    if args.backend == "simulator":
        return sim
    if sim != _SIM:
        raise UsageError("--audio-dir/--capacity/--base-lag/--per-stream-lag need --backend simulator")
    return None


def _down(args: argparse.Namespace, _: tuple[str, ...]) -> int:
    stopped = LocalStack.attach(args.run_dir, log=_say).down()
    _say(f"down: {len(stopped)} process(es) stopped")
    return EXIT_OK


def _status(args: argparse.Namespace, _: tuple[str, ...]) -> int:
    statuses = LocalStack.attach(args.run_dir).status()
    for status in statuses:
        print(status.line())
    return EXIT_OK if statuses and all(s.running and s.listening for s in statuses) else EXIT_FAILED


def _replica(args: argparse.Namespace, _: tuple[str, ...]) -> int:
    print(LocalStack.attach(args.run_dir).act_on_replica(args.action, args.index), flush=True)
    return EXIT_OK


def _render(args: argparse.Namespace, _: tuple[str, ...]) -> int:
    from stack.k8s import generated_files  # needs pyyaml, which `up`/`down`/`status` do not

    files = {**committed_files(), **generated_files()}
    stale = {path: text for path, text in files.items() if _read(ROOT / path) != text}
    if args.check:
        for path in stale:
            print(f"stale: {path} (run `python -m stack render`)")
        return EXIT_FAILED if stale else EXIT_OK
    for path, text in stale.items():
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text(text)
        print(f"wrote {path}")
    return EXIT_OK


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def _say(line: str) -> None:
    print(f"stack: {line}", flush=True)
