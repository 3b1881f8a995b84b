"""The local stack: N real WhisperLive replicas, Debian's nginx and Prometheus, all on 127.0.0.1.

One run directory holds everything: `nginx.conf`, `prometheus.yml`, `pids/NAME.pid`, `logs/NAME.log`,
nginx's prefix `nginx/`, `prometheus-data/` and `stack.json` (what runs where). `up` starts and waits for
readiness (replicas and nginx: a real WhisperLive handshake; Prometheus: `/-/ready`), `down` stops exactly
the processes it recorded, `status` reports each.
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

from stack import procs
from stack.ports import MAX_REPLICAS, LocalPorts, is_free
from stack.render import ScrapeJob, local_nginx, local_prometheus, render_nginx, render_prometheus
from whisperlive.cli import parse_serve_settings
from whisperlive.errors import NotReadyError, UsageError
from whisperlive.readiness import wait_until_ready
from whisperlive.replica import ReplicaSpec, replica_command, start_replica

NGINX = "nginx"
PROMETHEUS = "prometheus"
EXPORTERS = "exporters"
LOADGEN = "loadgen"  # scraped while a `loadgen run --metrics-port` runs beside the stack
MANAGED_REPLICA_FLAGS = ("--host", "--port", "--metrics-port", "--model", "--max-clients", "--omp-threads")
_POLL_S = 0.25


class StackError(Exception):
    """Why the stack cannot start or act: one line, printed by the CLI."""


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

    def to_json(self) -> dict[str, Any]:
        """The stack.json form."""
        data = asdict(self)
        data.update(
            run_dir=str(self.run_dir), ports=self.ports.balancer, replica_args=list(self.replica_args)
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
            }
        )


def problems(settings: StackSettings) -> list[str]:
    """What makes `settings` unusable (pure); empty when they are fine."""
    s = settings
    span = s.ports.replica_metrics(s.replicas) - s.ports.balancer  # the stack's ports lie in base..base+span
    managed = [arg for arg in s.replica_args if arg.split("=")[0] in MANAGED_REPLICA_FLAGS]
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
    ]
    return [message for ok, message in checks if not ok]


class LocalStack:
    """A local stack in one run directory: start, check, stop, and fault injection for tests.

    Its methods block (readiness checks run their own event loop): from async code, call them through
    `asyncio.to_thread`.
    """

    def __init__(self, settings: StackSettings, log: Callable[[str], None] = lambda _: None) -> None:
        self.settings = replace(settings, run_dir=settings.run_dir.resolve())
        self.run_dir = self.settings.run_dir
        self.log = log
        self._records: dict[str, procs.ProcessRecord] = {}
        self._load_records()

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
    def replica_specs(self) -> list[ReplicaSpec]:
        """Replica i (from 1) is element i - 1."""
        return [self._replica_spec(i) for i in range(1, self.settings.replicas + 1)]

    @property
    def replica_addresses(self) -> list[str]:
        """`host:port` of each replica, as nginx reports it in X-Upstream."""
        return [f"{spec.host}:{spec.port}" for spec in self.replica_specs]

    @property
    def processes(self) -> dict[str, procs.ProcessRecord]:
        """Every process started (whisperlive-1.., nginx, prometheus), running or not, by name."""
        return dict(self._records)

    def pid_path(self, name: str) -> Path:
        """The pid file of process `name`."""
        return self.run_dir / "pids" / f"{name}.pid"

    def log_path(self, name: str) -> Path:
        """The stdout+stderr log of process `name`."""
        return self.run_dir / "logs" / f"{name}.log"

    # Commands.

    def up(self) -> None:
        """Start every replica, nginx and Prometheus and wait until each is ready; on failure stop them."""
        started = time.monotonic()
        self._check_can_start()
        self._prepare_run_dir()
        try:
            self._start_replicas()
            self._start_nginx()
            self._start_exporters()
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

    def kill_replica(self, index: int) -> str:
        """SIGKILL replica `index` (from 1) and return its address; for failover tests."""
        record = self._records.get(f"whisperlive-{index}")
        if record is None or not procs.kill(record):
            raise StackError(f"whisperlive-{index} is not running")
        return self.replica_addresses[index - 1]

    def pause_replica(self, index: int) -> int:
        """SIGSTOP replica `index` (from 1): it keeps its sockets open and answers nothing; its pid."""
        return self._signal_replica(index, signal.SIGSTOP)

    def resume_replica(self, index: int) -> int:
        """SIGCONT replica `index` (from 1) after `pause_replica`; its pid."""
        return self._signal_replica(index, signal.SIGCONT)

    def _signal_replica(self, index: int, sig: signal.Signals) -> int:
        record = self._records.get(f"whisperlive-{index}")
        process = procs.live_process(record) if record is not None else None
        if process is None:
            raise StackError(f"whisperlive-{index} is not running")
        process.send_signal(sig)
        return process.pid

    def restart_replica(self, index: int) -> None:
        """Start replica `index` (from 1) again, after it died, and wait until it is ready."""
        if any(s.running for s in self.status() if s.name == f"whisperlive-{index}"):
            raise StackError(f"whisperlive-{index} is running: kill it first")
        spec = self._replica_spec(index)
        process = self._track(f"whisperlive-{index}", start_replica(spec), spec.port)
        self._wait_replica(spec, process)

    def ensure_up(self) -> None:
        """Bring the stack back to fully running: restart dead replicas, or everything if nginx or
        Prometheus is gone (or the stack was never started)."""
        running = {s.name: s.running for s in self.status()}
        if not (running.get(NGINX) and running.get(EXPORTERS) and running.get(PROMETHEUS)):
            self.down()
            self.up()
            return
        for index in range(1, self.settings.replicas + 1):
            if not running.get(f"whisperlive-{index}"):
                self.restart_replica(index)

    # Starting.

    def _check_can_start(self) -> None:
        if errors := problems(self.settings):
            raise UsageError(errors[0])
        command = replica_command(self._replica_spec(1))
        parse_serve_settings(command[command.index("serve") + 1 :])  # a bad replica flag fails here, at once
        for program in (NGINX, PROMETHEUS):
            if shutil.which(program) is None:
                raise StackError(f"{program} is not on PATH: apt-get install {program} (or make install)")
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
        prometheus = local_prometheus(self.host, s.ports, s.replicas, jobs)
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
        started = {
            spec.port: self._track(f"whisperlive-{i}", start_replica(spec), spec.port)
            for i, spec in enumerate(specs, start=1)
        }
        self.log(f"waiting for {len(specs)} replica(s) ({self.settings.model}) to answer a handshake")
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            list(pool.map(lambda spec: self._wait_replica(spec, started[spec.port]), specs))

    def _wait_replica(self, spec: ReplicaSpec, process: subprocess.Popen[bytes]) -> None:
        with _not_ready_as_stack_error():
            wait_until_ready(spec.url, self.settings.ready_timeout_s, process=process, log_path=spec.log_path)
        self.log(f"replica ready at {spec.url} (metrics on port {spec.metrics_port})")

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
            str(self.run_dir / "pids" / "whisperlive-*.pid"),
            "--nginx-status-url",
            self.nginx_status_url,
        ]
        process = self._spawn(EXPORTERS, argv, self.settings.ports.exporters)
        try:
            _wait_http_ok(f"{self.exporters_url}/metrics", self.settings.ready_timeout_s, process)
        except StackError as exc:
            raise StackError(f"exporters: {exc}; see {self.log_path(EXPORTERS)}") from exc
        self.log(f"exporters at {self.exporters_url}/metrics")

    def _start_prometheus(self) -> None:
        argv = [
            shutil.which(PROMETHEUS) or PROMETHEUS,
            f"--config.file={self.run_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.run_dir / 'prometheus-data'}",
            f"--web.listen-address={self.host}:{self.settings.ports.prometheus}",
        ]
        process = self._spawn(PROMETHEUS, argv, self.settings.ports.prometheus)
        try:
            _wait_http_ok(f"{self.prometheus_url}/-/ready", self.settings.ready_timeout_s, process)
        except StackError as exc:
            raise StackError(f"prometheus: {exc}; see {self.log_path(PROMETHEUS)}") from exc
        self.log(f"prometheus at {self.prometheus_url}")

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
            log_path=self.log_path(f"whisperlive-{index}"),
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
            "replicas": [
                {
                    "name": f"whisperlive-{index}",
                    "address": f"{spec.host}:{spec.port}",
                    "url": spec.url,
                    "metrics_url": f"http://{spec.host}:{spec.metrics_port}/metrics",
                }
                for index, spec in enumerate(self.replica_specs, start=1)
            ],
            "processes": {name: record.to_json() for name, record in self._records.items()},
        }
        temp = self.state_path.with_suffix(".json.tmp")
        temp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(temp, self.state_path)


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
