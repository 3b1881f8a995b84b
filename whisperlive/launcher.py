"""`serve`: resolve the model, check the ports, set the thread count, preload, then run upstream's server."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time

from loadgen.core.errors import SetupError
from whisperlive.drain import Lifecycle, start_status_server
from whisperlive.models import ResolvedModel, resolve_model
from whisperlive.settings import ServeSettings
from whisperlive.vad_model import seed_vad_model

log = logging.getLogger("whisperlive")


def serve(settings: ServeSettings) -> int:
    """Start one replica and block; returns only if upstream's server loop returns."""
    _configure_logging()
    lifecycle = Lifecycle(settings.drain_grace_s)
    lifecycle.install()
    model = _prepare(settings)
    try:
        if settings.metrics_port:  # now, so that /ready answers "starting" and /live 200 during the load
            start_status_server(settings.host, settings.metrics_port, lifecycle)
    except OSError as exc:
        raise SetupError(
            f"--metrics-port {settings.metrics_port}: cannot serve ({exc.strerror or exc})"
        ) from exc
    try:
        from whisperlive import upstream  # heavy (torch, ctranslate2): only now that OMP_NUM_THREADS is set
    except ImportError as exc:
        raise _missing_module(exc) from exc
    device = upstream.upstream_device()
    started = time.monotonic()
    if settings.single_model:
        upstream.preload_single_model(model.path, device)
    preload_s = time.monotonic() - started
    try:
        log.info("%s", startup_line(settings, model, f"{device.name}/{device.compute_type}", preload_s))
        upstream.run_server(settings, model.path, lifecycle)
    except OSError as exc:
        raise SetupError(
            f"cannot serve on {settings.host}: {exc.strerror or exc}; check --host and the ports"
        ) from exc
    return 0


def _prepare(settings: ServeSettings) -> ResolvedModel:
    """The cheap steps, all before the heavy imports: thread count, port checks, model files, VAD file."""
    if settings.omp_threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(settings.omp_threads)
    _ensure_free(settings.host, settings.port, "--port")
    if settings.metrics_port:
        _ensure_free(settings.host, settings.metrics_port, "--metrics-port")
    model = resolve_model(settings.model)
    seed_vad_model()
    return model


def startup_line(settings: ServeSettings, model: ResolvedModel, device: str, preload_s: float) -> str:
    """The one log line with the effective settings."""
    metrics = (
        f"http://{settings.host}:{settings.metrics_port}/metrics (and /ready, /live)"
        if settings.metrics_port
        else "off"
    )
    batch = (
        f"on(max_size={settings.batch_max_size}, window={settings.batch_window_ms}ms, "
        f"max_queue_wait={settings.batch_max_queue_wait_s:g}s, "
        f"max_admissions={settings.batch_max_admissions_per_s:g}/s)"
        if settings.batch
        else "off"
    )
    preload = f"preloaded in {preload_s:.1f}s" if settings.single_model else "per client"
    return (
        f"serving ws://{settings.host}:{settings.port} backend={settings.backend} "
        f"model={settings.model} ({model.path}, from {model.source}) device={device} "
        f"single_model={'on' if settings.single_model else 'off'} ({preload}) "
        f"max_clients={settings.max_clients} max_connection_time={settings.max_connection_time:g}s "
        f"batch={batch} omp_threads={os.environ.get('OMP_NUM_THREADS', 'unset')} metrics={metrics} "
        f"api_key={'set' if settings.api_key else 'off'} cache_path={settings.cache_path} "
        f"drain_grace={settings.drain_grace_s:g}s"
    )


def _missing_module(exc: ImportError) -> SetupError:
    missing = (exc.name or str(exc)).split(".")[0]
    package = missing.replace("_", "-")
    return SetupError(
        f"the upstream server cannot be imported: no module {missing!r}; pip install {package}"
        " (for whisper-live itself: pip install --no-deps whisper-live==0.10.0)"
    )


def _configure_logging() -> None:
    # Before upstream's import-time logging.basicConfig(INFO), which then does nothing.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _ensure_free(host: str, port: int, flag: str) -> None:
    """Fail in one line before the slow model load when host:port cannot be bound."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise SetupError(
            f"{flag} {port}: cannot bind {host}:{port} ({exc.strerror or exc}); free it or pick another port"
        ) from exc
