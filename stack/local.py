"""The local stack: N replicas (real WhisperLive, or `loadgen simulate`), Debian's nginx, the exporters,
Prometheus and Alertmanager, all on 127.0.0.1.

One run directory holds everything: `nginx.conf`, `prometheus.yml`, `pids/NAME.pid`, `logs/NAME.log`,
nginx's prefix `nginx/`, `prometheus-data/`, `alertmanager-data/` and `stack.json` (what runs where). `up`
starts and waits for readiness (replicas and nginx: a real WhisperLive handshake; the others: an HTTP
200), `down` stops exactly the processes it recorded, `status` reports each.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from loadgen.core.errors import EXIT_FAILED, NotReadyError, UsageError, UserError
from loadgen.core.protocol import REPLICA_PREFIX, replica_name
from stack import procs
from stack.ports import MAX_REPLICAS, LocalPorts, is_free
from stack.render import (
    ALERTMANAGER_CONFIG,
    ROOT,
    ScrapeJob,
    local_nginx,
    local_prometheus,
    render_nginx,
    render_prometheus,
)
from whisperlive.cli import parse_serve_settings
from whisperlive.readiness import wait_until_ready
from whisperlive.replica import ReplicaSpec, replica_command, start_replica

NGINX = "nginx"
PROMETHEUS = "prometheus"
EXPORTERS = "exporters"
ALERTMANAGER = "alertmanager"
ALERTMANAGER_PROGRAMS = ("prometheus-alertmanager", "alertmanager")  # Debian's name, upstream's name
LOADGEN = "loadgen"  # scraped while a `loadgen run --metrics-port` runs beside the stack
MANAGED_REPLICA_FLAGS = ("--host", "--port", "--metrics-port", "--model", "--max-clients", "--omp-threads")
KILL, PAUSE, RESUME, RESTART = "kill", "pause", "resume", "restart"
REPLICA_ACTIONS = (KILL, PAUSE, RESUME, RESTART)  # `python -m stack replica ACTION N`
_POLL_S = 0.25


class StackError(UserError):
    """Why the stack cannot start or act: one line, printed by the CLI."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class SimulatorSettings:
    """The simulator backend: `loadgen simulate` replicas with a known lag curve instead of WhisperLive."""

    audio_dir: Path = Path("test_audio/corpus")  # the corpus the load generator streams
    capacity: int = 4
    base_lag_s: float = 0.3
    per_stream_lag_s: float = 0.5

    def command(self, host: str, port: int, max_clients: int) -> list[str]:
        """The argv of one simulator replica."""
        return [
            sys.executable,
            "-m",
            "loadgen",
            "simulate",
            *("--host", host, "--port", str(port), "--audio-dir", str(self.audio_dir)),
            *("--capacity", str(self.capacity), "--base-lag", f"{self.base_lag_s:g}"),
            *("--per-stream-lag", f"{self.per_stream_lag_s:g}", "--max-clients", str(max_clients)),
        ]

    def to_json(self) -> dict[str, Any]:
        """The stack.json form."""
        return {**asdict(self), "audio_dir": str(self.audio_dir)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimulatorSettings:
        """The settings from their stack.json form."""
        return cls(**{**data, "audio_dir": Path(data["audio_dir"])})


@dataclass(frozen=True)
class StackSettings:
    """What `up` starts and where."""

    replicas: int = 3
    model: str = "tiny.en"
    max_clients: int = 4
    omp_threads: int | None = None
    replica_args: tuple[str, ...] = ()  # further `whisperlive serve` flags, e.g. ("--batch",)
    run_dir: Path = Path("runs/stack")
    ports: LocalPorts = field(default_factory=LocalPorts)
    host: str = "127.0.0.1"
    ready_timeout_s: float = 300.0
    stop_grace_s: float = 10.0
    extra_scrape_jobs: tuple[ScrapeJob, ...] = ()
    simulator: SimulatorSettings | None = None  # None: real WhisperLive replicas
    alertmanager_config: Path = ROOT / ALERTMANAGER_CONFIG

    @property
    def backend(self) -> str:
        """What the replicas run: "whisperlive" or "simulator"."""
        return "whisperlive" if self.simulator is None else "simulator"

    def to_json(self) -> dict[str, Any]:
        """The stack.json form."""
        data = asdict(self)
        data.update(
            run_dir=str(self.run_dir),
            ports=self.ports.balancer,
            replica_args=list(self.replica_args),
            simulator=self.simulator and self.simulator.to_json(),
            alertmanager_config=str(self.alertmanager_config),
        )
        data["extra_scrape_jobs"] = [[job.name, list(job.targets)] for job in self.extra_scrape_jobs]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackSettings:
        """The settings from their stack.json form."""
        jobs = tuple(ScrapeJob(name, tuple(targets)) for name, targets in data["extra_scrape_jobs"])
        return cls(
            **{
                **data,
                "run_dir": Path(data["run_dir"]),
                "ports": LocalPorts(data["ports"]),
                "replica_args": tuple(data["replica_args"]),
                "extra_scrape_jobs": jobs,
                "simulator": data["simulator"] and SimulatorSettings.from_json(data["simulator"]),
                "alertmanager_config": Path(data["alertmanager_config"]),
            }
        )


def problems(settings: StackSettings) -> list[str]:
    """What makes `settings` unusable (pure); empty when they are fine."""
    s = settings
    span = s.ports.replica_metrics(s.replicas) - s.ports.balancer  # the stack's ports lie in base..base+span
    managed = [arg for arg in s.replica_args if arg.split("=")[0] in MANAGED_REPLICA_FLAGS]
    sim = s.simulator or SimulatorSettings()
    checks = [
        (1 <= s.replicas <= MAX_REPLICAS, f"--replicas {s.replicas}: use 1..{MAX_REPLICAS}"),
        (
            1024 <= s.ports.balancer <= 65535 - span,
            f"--base-port {s.ports.balancer}: {s.replicas} replica(s) need it and {span} ports above it; "
            f"use 1024..{65535 - span}",
        ),
        (s.max_clients >= 1, f"--max-clients {s.max_clients} must be at least 1"),
        (not managed, f"{' '.join(managed)}: set by the stack, use its own flags (--base-port, ...)"),
        (s.ready_timeout_s > 0, f"--ready-timeout {s.ready_timeout_s:g} must be above 0"),
        (
            s.simulator is None or not s.replica_args,
            f"{' '.join(s.replica_args)}: `whisperlive serve` flags need --backend whisperlive",
        ),
        (sim.capacity >= 1, f"--capacity {sim.capacity} must be at least 1"),
        (sim.base_lag_s >= 0, f"--base-lag {sim.base_lag_s:g} must be at least 0"),
        (sim.per_stream_lag_s >= 0, f"--per-stream-lag {sim.per_stream_lag_s:g} must be at least 0"),
    ]
    return [message for ok, message in checks if not ok]


class LocalStack:
    """A local stack in one run directory: start, check, stop, and fault injection for tests.

    Its methods block (readiness checks run their own event loop): from async code, call them through
    `asyncio.to_thread`.
    """

    def __init__(self, settings: StackSettings, log: Callable[[str], None] = lambda _: None) -> None:
        sim = settings.simulator and replace(
            settings.simulator, audio_dir=settings.simulator.audio_dir.resolve()
        )
        self.settings = replace(
            settings,
            run_dir=settings.run_dir.resolve(),
            simulator=sim,
            alertmanager_config=settings.alertmanager_config.resolve(),
        )
        self.run_dir = self.settings.run_dir
        self.log = log
        self._records: dict[str, procs.ProcessRecord] = {}
        self._load_records()

    def __enter__(self) -> LocalStack:
        """`up`; `with LocalStack(settings) as stack:` stops it at the end, whatever happens."""
        self.up()
        return self

    def __exit__(self, *_: object) -> None:
        self.down()

    @classmethod
    def attach(cls, run_dir: Path, log: Callable[[str], None] = lambda _: None) -> LocalStack:
        """The stack described by `run_dir/stack.json` (for `down` and `status`)."""
        path = run_dir / "stack.json"
        if not path.is_file():
            raise StackError(f"no stack in {run_dir}: {path} does not exist (start one with `up`)")
        return cls(StackSettings.from_json(json.loads(path.read_text())["settings"]), log)

    # Where things are.

    @property
    def state_path(self) -> Path:
        """stack.json: settings, URLs and every started process."""
        return self.run_dir / "stack.json"

    @property
    def host(self) -> str:
        """The address every server listens on."""
        return self.settings.host

    @property
    def balancer_url(self) -> str:
        """The balancer's WebSocket URL: where load tests connect."""
        return f"ws://{self.host}:{self.settings.ports.balancer}"

    @property
    def nginx_status_url(self) -> str:
        """nginx stub_status."""
        return f"http://{self.host}:{self.settings.ports.nginx_status}/nginx_status"

    @property
    def exporters_url(self) -> str:
        """The exporters' HTTP root (`/metrics`)."""
        return f"http://{self.host}:{self.settings.ports.exporters}"

    @property
    def prometheus_url(self) -> str:
        """Prometheus's web UI and API root."""
        return f"http://{self.host}:{self.settings.ports.prometheus}"

    @property
    def alertmanager_url(self) -> str:
        """Alertmanager's web UI and API root."""
        return f"http://{self.host}:{self.settings.ports.alertmanager}"

    @property
    def replica_specs(self) -> list[ReplicaSpec]:
        """Replica i (from 1) is element i - 1."""
        return [self._replica_spec(i) for i in range(1, self.settings.replicas + 1)]

    @property
    def replica_addresses(self) -> list[str]:
        """`host:port` of each replica, as nginx reports it in X-Upstream."""
        return [f"{spec.host}:{spec.port}" for spec in self.replica_specs]

    @property
    def processes(self) -> dict[str, procs.ProcessRecord]:
        """Every process started (whisperlive-1.., nginx, exporters, alertmanager, prometheus), running or
        not, by name. Replica i is `whisperlive-i` whatever its backend."""
        return dict(self._records)

    def pid_path(self, name: str) -> Path:
        """The pid file of process `name`."""
        return self.run_dir / "pids" / f"{name}.pid"

    def log_path(self, name: str) -> Path:
        """The stdout+stderr log of process `name`."""
        return self.run_dir / "logs" / f"{name}.log"

    # Commands.

    def up(self) -> None:
        """Start every replica, nginx, the exporters, Alertmanager and Prometheus and wait until each is
        ready; on failure stop them."""
        started = time.monotonic()
        self._check_can_start()
        self._prepare_run_dir()
        try:
            self._start_replicas()
            self._start_nginx()
            self._start_exporters()
            self._start_alertmanager()
            self._start_prometheus()
        except BaseException:
            self.down()
            raise
        self.log(f"up in {time.monotonic() - started:.1f} s; state in {self.state_path}")

    def down(self) -> list[str]:
        """Stop the recorded processes that still are what was started (SIGTERM, then SIGKILL);
        remove their pid files. Returns the names of the processes that were running."""
        stopped = []
        for name, record in reversed(self._records.items()):
            if self._pid_file_matches(record) and procs.live_process(record) is not None:
                procs.stop(record, self.settings.stop_grace_s)
                stopped.append(name)
                self.log(f"stopped {name} (pid {record.pid})")
            else:
                procs.reap(record.pid)
            self.pid_path(name).unlink(missing_ok=True)
        return stopped

    def status(self) -> list[procs.ProcessStatus]:
        """Each recorded process: running or dead, its port listening or not."""
        return [procs.status(record, self.host) for record in self._records.values()]

    def act_on_replica(self, action: str, index: int) -> str:
        """Fault injection (`python -m stack replica`): kill (SIGKILL), pause (SIGSTOP), resume (SIGCONT)
        or restart (kill if running, start again, wait until ready) replica `index` (from 1); the one-line
        detail of what was done."""
        name = replica_name(index)
        record = self._records.get(name)
        if record is None:
            raise UsageError(f"{name} is not in the stack: it has replicas 1..{self.settings.replicas}")
        if action == KILL:
            return f"SIGKILL pid {record.pid} ({self.kill_replica(index)})"
        if action == PAUSE:
            return f"SIGSTOP pid {self.pause_replica(index)}"
        if action == RESUME:
            return f"SIGCONT pid {self.resume_replica(index)}"
        if action != RESTART:
            raise UsageError(f"unknown replica action {action!r}; use one of {', '.join(REPLICA_ACTIONS)}")
        if any(s.running for s in self.status() if s.name == name):
            self.kill_replica(index)
        started = time.monotonic()
        self.restart_replica(index)
        return f"restarted, ready in {time.monotonic() - started:.1f} s"

    def kill_replica(self, index: int) -> str:
        """SIGKILL replica `index` (from 1) and return its address; for failover tests."""
        record = self._records.get(replica_name(index))
        if record is None or not procs.kill(record):
            raise StackError(f"{replica_name(index)} is not running")
        return self.replica_addresses[index - 1]

    def pause_replica(self, index: int) -> int:
        """SIGSTOP replica `index` (from 1): it keeps its sockets open and answers nothing; its pid."""
        return self._signal_replica(index, signal.SIGSTOP)

    def resume_replica(self, index: int) -> int:
        """SIGCONT replica `index` (from 1) after `pause_replica`; its pid."""
        return self._signal_replica(index, signal.SIGCONT)

    def _signal_replica(self, index: int, sig: signal.Signals) -> int:
        record = self._records.get(replica_name(index))
        process = procs.live_process(record) if record is not None else None
        if process is None:
            raise StackError(f"{replica_name(index)} is not running")
        process.send_signal(sig)
        return process.pid

    def restart_replica(self, index: int) -> None:
        """Start replica `index` (from 1) again, after it died, and wait until it is ready."""
        if any(s.running for s in self.status() if s.name == replica_name(index)):
            raise StackError(f"{replica_name(index)} is running: kill it first")
        self._wait_replica(self._replica_spec(index), self._launch_replica(index))

    def ensure_up(self) -> None:
        """Bring the stack back to fully running: restart dead replicas, or everything if nginx, the
        exporters, Alertmanager or Prometheus is gone (or the stack was never started)."""
        running = {s.name: s.running for s in self.status()}
        if not all(running.get(name) for name in (NGINX, EXPORTERS, ALERTMANAGER, PROMETHEUS)):
            self.down()
            self.up()
            return
        for index in range(1, self.settings.replicas + 1):
            if not running.get(replica_name(index)):
                self.restart_replica(index)

    # Starting.

    def _check_can_start(self) -> None:
        if errors := problems(self.settings):
            raise UsageError(errors[0])
        if self.settings.simulator is None:
            command = replica_command(self._replica_spec(1))
            parse_serve_settings(command[command.index("serve") + 1 :])  # a bad replica flag fails here
        elif not self.settings.simulator.audio_dir.is_dir():
            raise UsageError(f"--audio-dir {self.settings.simulator.audio_dir}: not a directory")
        if not self.settings.alertmanager_config.is_file():
            raise UsageError(f"--alertmanager-config {self.settings.alertmanager_config}: no such file")
        for program in (NGINX, PROMETHEUS):
            if shutil.which(program) is None:
                raise StackError(f"{program} is not on PATH: apt-get install {program} (or make install)")
        _alertmanager_program()
        if running := [s for s in self.status() if s.running]:
            listed = ", ".join(f"{s.name} pid {s.pid}" for s in running)
            raise StackError(f"a stack already runs from {self.run_dir} ({listed}): run `down` first")
        for port, what in self.settings.ports.used(self.settings.replicas).items():
            if not is_free(self.host, port):
                raise StackError(
                    f"port {port} ({what}) is in use by {procs.port_user(port)}; "
                    "stop it or move the stack with --base-port"
                )

    def _prepare_run_dir(self) -> None:
        for sub in ("pids", "logs", "nginx"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        for stale in (self.run_dir / "pids").glob("*.pid"):
            stale.unlink()
        self._records.clear()
        s = self.settings
        nginx = local_nginx(self.host, s.ports, s.replicas, self.run_dir / "logs")
        (self.run_dir / "nginx.conf").write_text(render_nginx(nginx))
        jobs = (
            ScrapeJob(EXPORTERS, (f"{self.host}:{s.ports.exporters}",)),
            ScrapeJob(LOADGEN, (f"{self.host}:{s.ports.loadgen_metrics}",)),
            *s.extra_scrape_jobs,
        )
        prometheus = local_prometheus(
            self.host, s.ports, s.replicas, jobs, replica_metrics=s.simulator is None
        )
        (self.run_dir / "prometheus.yml").write_text(render_prometheus(prometheus))
        self._save_state()
        self._check_nginx_config()

    def _nginx_argv(self, *extra: str) -> list[str]:
        nginx = shutil.which(NGINX) or NGINX
        return [nginx, *extra, "-p", f"{self.run_dir / 'nginx'}/", "-c", str(self.run_dir / "nginx.conf")]

    def _check_nginx_config(self) -> None:
        result = subprocess.run(self._nginx_argv("-t", "-q"), capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise StackError(f"nginx rejects {self.run_dir / 'nginx.conf'}: {detail}")

    def _start_replicas(self) -> None:
        specs = self.replica_specs
        started = {spec.port: self._launch_replica(i) for i, spec in enumerate(specs, start=1)}
        what = self.settings.model if self.settings.simulator is None else "simulator"
        self.log(f"waiting for {len(specs)} replica(s) ({what}) to answer a handshake")
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            list(pool.map(lambda spec: self._wait_replica(spec, started[spec.port]), specs))

    def _launch_replica(self, index: int) -> subprocess.Popen[bytes]:
        """Start replica `index` (from 1) on its backend and record it; no readiness here."""
        spec = self._replica_spec(index)
        name = replica_name(index)
        if self.settings.simulator is None:
            return self._track(name, start_replica(spec), spec.port)
        return self._spawn(
            name, self.settings.simulator.command(spec.host, spec.port, spec.max_clients), spec.port
        )

    def _wait_replica(self, spec: ReplicaSpec, process: subprocess.Popen[bytes]) -> None:
        with _not_ready_as_stack_error():
            url = spec.url if self.settings.simulator else spec.ready_url  # the simulator has no /ready
            wait_until_ready(url, self.settings.ready_timeout_s, process=process, log_path=spec.log_path)
        metrics = f"metrics on port {spec.metrics_port}" if self.settings.simulator is None else "simulator"
        self.log(f"replica ready at {spec.url} ({metrics})")

    def _start_nginx(self) -> None:
        process = self._spawn(NGINX, self._nginx_argv("-g", "daemon off;"), self.settings.ports.balancer)
        with _not_ready_as_stack_error():
            wait_until_ready(
                self.balancer_url,
                self.settings.ready_timeout_s,
                process=process,
                log_path=self.log_path(NGINX),
            )
        self.log(f"nginx balancing at {self.balancer_url} (status {self.nginx_status_url})")

    def _start_exporters(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "exporters",
            "--listen",
            f"{self.host}:{self.settings.ports.exporters}",
            "--process-pidfile-glob",
            str(self.run_dir / "pids" / f"{REPLICA_PREFIX}-*.pid"),
            "--nginx-status-url",
            self.nginx_status_url,
        ]
        self._start_http_server(
            EXPORTERS, argv, self.settings.ports.exporters, f"{self.exporters_url}/metrics"
        )

    def _start_alertmanager(self) -> None:
        argv = [
            _alertmanager_program(),
            f"--config.file={self.settings.alertmanager_config}",
            f"--storage.path={self.run_dir / 'alertmanager-data'}",
            f"--web.listen-address={self.host}:{self.settings.ports.alertmanager}",
            f"--web.external-url={self.alertmanager_url}/",
            "--cluster.listen-address=",  # no HA gossip: it would listen on 0.0.0.0:9094
        ]
        self._start_http_server(
            ALERTMANAGER, argv, self.settings.ports.alertmanager, f"{self.alertmanager_url}/-/ready"
        )

    def _start_prometheus(self) -> None:
        argv = [
            shutil.which(PROMETHEUS) or PROMETHEUS,
            f"--config.file={self.run_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.run_dir / 'prometheus-data'}",
            f"--web.listen-address={self.host}:{self.settings.ports.prometheus}",
            f"--web.external-url={self.prometheus_url}/",  # the links in alerts
        ]
        self._start_http_server(
            PROMETHEUS, argv, self.settings.ports.prometheus, f"{self.prometheus_url}/-/ready"
        )

    def _start_http_server(self, name: str, argv: list[str], port: int, ready_url: str) -> None:
        """Start `name` and wait until `ready_url` answers 200."""
        process = self._spawn(name, argv, port)
        try:
            _wait_http_ok(ready_url, self.settings.ready_timeout_s, process)
        except StackError as exc:
            raise StackError(f"{name}: {exc}; see {self.log_path(name)}") from exc
        self.log(f"{name} at {ready_url}")

    def _spawn(self, name: str, argv: list[str], port: int) -> subprocess.Popen[bytes]:
        with self.log_path(name).open("ab") as log:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self._track(name, process, port)

    def _replica_spec(self, index: int) -> ReplicaSpec:
        s = self.settings
        return ReplicaSpec(
            port=s.ports.replica(index),
            metrics_port=s.ports.replica_metrics(index),
            log_path=self.log_path(replica_name(index)),
            host=self.host,
            model=s.model,
            max_clients=s.max_clients,
            omp_threads=s.omp_threads,
            extra_args=s.replica_args,
        )

    # Records.

    def _track(self, name: str, process: subprocess.Popen[bytes], port: int) -> subprocess.Popen[bytes]:
        """Record a process just started: pid file and stack.json, before anything can fail."""
        record = procs.ProcessRecord.of(name, process, port, self.log_path(name))
        self._records[name] = record
        self.pid_path(name).write_text(f"{record.pid}\n")
        self._save_state()
        return process

    def _pid_file_matches(self, record: procs.ProcessRecord) -> bool:
        try:
            return int(self.pid_path(record.name).read_text()) == record.pid
        except (OSError, ValueError):
            return False

    def _load_records(self) -> None:
        if self.state_path.is_file():
            data = json.loads(self.state_path.read_text())
            self._records = {n: procs.ProcessRecord.from_json(r) for n, r in data["processes"].items()}

    def _save_state(self) -> None:
        state = {
            "settings": self.settings.to_json(),
            "balancer_url": self.balancer_url,
            "nginx_status_url": self.nginx_status_url,
            "prometheus_url": self.prometheus_url,
            "alertmanager_url": self.alertmanager_url,
            "backend": self.settings.backend,
            "replicas": [
                {
                    "name": replica_name(index),
                    "address": f"{spec.host}:{spec.port}",
                    "url": spec.url,
                    "metrics_url": (
                        f"http://{spec.host}:{spec.metrics_port}/metrics"
                        if self.settings.simulator is None
                        else None
                    ),
                }
                for index, spec in enumerate(self.replica_specs, start=1)
            ],
            "processes": {name: record.to_json() for name, record in self._records.items()},
        }
        temp = self.state_path.with_suffix(".json.tmp")
        temp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(temp, self.state_path)


def _alertmanager_program() -> str:
    """Alertmanager's executable, under Debian's name or upstream's."""
    for name in ALERTMANAGER_PROGRAMS:
        if path := shutil.which(name):
            return path
    raise StackError("alertmanager is not on PATH: apt-get install prometheus-alertmanager (or make install)")


@contextmanager
def _not_ready_as_stack_error() -> Iterator[None]:
    try:
        yield
    except NotReadyError as exc:
        raise StackError(str(exc)) from exc


def _wait_http_ok(url: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    """Poll `url` until it answers 200; fail early when `process` exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise StackError(f"{url}: process exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise StackError(f"{url} not ready within {timeout_s:g} s")
        time.sleep(_POLL_S)
