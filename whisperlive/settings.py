"""The settings of one `serve` run, and their validation (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from loadgen.core.errors import UsageError

BACKENDS = ("faster_whisper",)
# Seconds a stopping replica lets its open streams run on. k8s/base/whisperlive.yaml's
# terminationGracePeriodSeconds and docker-compose.yml's stop_grace_period give it DRAIN_MARGIN_S more.
DRAIN_GRACE_S = 120.0
DRAIN_MARGIN_S = 30.0


@dataclass(frozen=True)
class ServeSettings:
    """Everything `python -m whisperlive serve` needs; defaults match its flags."""

    host: str = "127.0.0.1"
    port: int = 9090
    backend: str = "faster_whisper"
    model: str = "tiny.en"
    single_model: bool = True
    max_clients: int = 4
    max_connection_time: float = 3600.0
    batch: bool = False
    batch_max_size: int = 16
    batch_window_ms: int = 50
    batch_max_queue_wait_s: float = 0.5
    batch_max_admissions_per_s: float = 5.0
    omp_threads: int | None = None
    metrics_port: int = 9091
    api_key: str | None = None
    cache_path: str = "~/.cache/whisper-live/"
    replica_name: str | None = None  # sent as X-Replica on every handshake (Kubernetes: the pod name)
    drain_grace_s: float = DRAIN_GRACE_S


def validate(settings: ServeSettings) -> ServeSettings:
    """Return `settings` unchanged, or raise UsageError naming the first bad flag."""
    problems = _problems(settings)
    if problems:
        raise UsageError(problems[0])
    return settings


def _problems(s: ServeSettings) -> list[str]:
    checks = [
        (1 <= s.port <= 65535, f"--port {s.port} is not a TCP port: use 1..65535"),
        (
            0 <= s.metrics_port <= 65535,
            f"--metrics-port {s.metrics_port} is not a port: use 1..65535, 0 = off",
        ),
        (s.metrics_port != s.port, f"--metrics-port {s.metrics_port} equals --port: pick another port"),
        (s.backend in BACKENDS, f"--backend {s.backend!r} is not supported here: use {', '.join(BACKENDS)}"),
        (bool(s.model.strip()), "--model is empty: pass tiny.en, base, a CTranslate2 directory or hub name"),
        (s.max_clients >= 1, f"--max-clients {s.max_clients} must be at least 1"),
        (s.drain_grace_s >= 0, f"--drain-grace {s.drain_grace_s:g} must be 0 or more seconds"),
        (s.max_connection_time > 0, f"--max-connection-time {s.max_connection_time:g} must be above 0 s"),
        (s.omp_threads is None or s.omp_threads >= 1, f"--omp-threads {s.omp_threads} must be at least 1"),
        (s.api_key is None or bool(s.api_key), "--api-key is empty: pass a key or leave the flag out"),
        (not (s.batch and not s.single_model), "--batch shares one model: drop --no-single-model"),
        (s.batch_max_size >= 1, f"--batch-max-size {s.batch_max_size} must be at least 1"),
        (s.batch_window_ms >= 0, f"--batch-window-ms {s.batch_window_ms} must be 0 or more"),
        (s.batch_max_queue_wait_s > 0, f"--batch-max-queue-wait-s {s.batch_max_queue_wait_s:g} must be > 0"),
        (
            s.batch_max_admissions_per_s > 0,
            f"--batch-max-admissions-per-s {s.batch_max_admissions_per_s:g} must be above 0",
        ),
    ]
    return [message for ok, message in checks if not ok]
