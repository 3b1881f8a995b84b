"""The calls into upstream `whisper_live` (heavy: torch, ctranslate2). Import this only after the
environment (OMP_NUM_THREADS) is set: importing it loads torch and ctranslate2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import whisper_live.metrics
import whisper_live.server
from websockets.sync.server import Server, serve
from whisper_live.backend.faster_whisper_backend import ServeClientFasterWhisper
from whisper_live.server import TranscriptionServer
from whisper_live.transcriber.transcriber_faster_whisper import WhisperModel

from loadgen.core.errors import SetupError
from loadgen.core.protocol import REPLICA_HEADER
from whisperlive.drain import Lifecycle
from whisperlive.settings import ServeSettings


@dataclass(frozen=True)
class Device:
    """Where and how the model runs, chosen exactly as upstream's faster_whisper backend chooses."""

    name: str
    compute_type: str


def upstream_device() -> Device:
    """cuda when torch sees a GPU (float16 from compute capability 7, else float32), else cpu with int8."""
    if not torch.cuda.is_available():
        return Device("cpu", "int8")
    major, _ = torch.cuda.get_device_capability("cuda")
    return Device("cuda", "float16" if major >= 7 else "float32")


def preload_single_model(model_dir: Path, device: Device) -> None:
    """Load the shared model now, so the first client does not pay for it (upstream loads it lazily)."""
    try:
        model = WhisperModel(str(model_dir), device=device.name, compute_type=device.compute_type)
    except (RuntimeError, ValueError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SetupError(f"cannot load the model in {model_dir} ({detail}); check --model") from exc
    ServeClientFasterWhisper.SINGLE_MODEL = model


def hook_listener(lifecycle: Lifecycle, replica_name: str | None) -> None:
    """Hand the listening server to `lifecycle`, and with `replica_name` answer every WebSocket handshake
    with `X-Replica: replica_name`.

    Upstream's `TranscriptionServer.run` builds its `serve(...)` call itself, with no hook for response
    headers and no handle on the server it runs, so the module's `serve` is replaced by one that adds a
    `process_response` and hands the server on. nginx passes the header through; the load generator
    prefers it to the balancer's address (on Kubernetes: the pod name).
    """

    def add_header(_connection: Any, _request: Any, response: Any) -> None:
        response.headers[REPLICA_HEADER] = replica_name

    def serve_hooked(*args: Any, **kwargs: Any) -> Server:
        server = serve(*args, **kwargs, process_response=add_header if replica_name else None)
        lifecycle.attach(server)
        return server

    whisper_live.server.serve = serve_hooked


def run_server(settings: ServeSettings, model_dir: Path, lifecycle: Lifecycle) -> None:
    """Run upstream's TranscriptionServer in this thread until the process ends (see `whisperlive.drain`).

    The model goes in as `faster_whisper_custom_model_path`: upstream honours `single_model` only then.
    """
    hook_listener(lifecycle, settings.replica_name)
    TranscriptionServer().run(
        settings.host,
        port=settings.port,
        backend=settings.backend,
        faster_whisper_custom_model_path=str(model_dir),
        single_model=settings.single_model,
        max_clients=settings.max_clients,
        max_connection_time=settings.max_connection_time,
        cache_path=settings.cache_path,
        batch_enabled=settings.batch,
        batch_max_size=settings.batch_max_size,
        batch_window_ms=settings.batch_window_ms,
        batch_max_queue_wait_s=settings.batch_max_queue_wait_s,
        batch_max_admissions_per_s=settings.batch_max_admissions_per_s,
        metrics_port=0,
        api_key=settings.api_key,
    )
