"""WhisperLive 0.10.0 wire protocol: the options message and the decoding of server messages.

Pure: values in, values out. No sockets, no clocks. The session machine (`loadgen.core.session_machine`)
turns each raw frame the live session hands it into a `ServerEvent` with `decode`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

END_OF_AUDIO = b"END_OF_AUDIO"
SAMPLE_RATE = 16_000
MAX_MESSAGE_BYTES = 2**20  # a server message above this closes the connection (1009): `oversized`
# The handshake's extras around upstream's protocol, shared by the client (loadgen) and the server side
# (whisperlive, stack): defined here only.
API_KEY_ENV = "WHISPERLIVE_API_KEY"  # the API key: `whisperlive serve` requires it, loadgen sends it
UPSTREAM_HEADER = "X-Upstream"  # added by our nginx config: the upstream address that served the upgrade
REPLICA_HEADER = "X-Replica"  # sent by `whisperlive serve --replica-name` (the pod name on Kubernetes)
REPLICA_PREFIX = "whisperlive"  # replica N of the local stack or of Compose is `whisperlive-N`


def replica_name(index: int) -> str:
    """Replica `index`'s (from 1) name: its pid and log file, its process label, its chaos target."""
    return f"{REPLICA_PREFIX}-{index}"


@dataclass(frozen=True)
class StreamOptions:
    """The JSON a client sends first. `use_vad` is always sent: upstream reads a missing key as off."""

    uid: str
    model: str = "tiny.en"
    language: str | None = "en"
    task: str = "transcribe"
    use_vad: bool = True
    send_last_n_segments: int = 10
    no_speech_thresh: float = 0.45
    same_output_threshold: int = 10

    def to_json(self) -> str:
        """The options message, as upstream's own client sends it."""
        return json.dumps(
            {
                "uid": self.uid,
                "language": self.language,
                "task": self.task,
                "model": self.model,
                "use_vad": self.use_vad,
                "send_last_n_segments": self.send_last_n_segments,
                "no_speech_thresh": self.no_speech_thresh,
                "clip_audio": False,
                "same_output_threshold": self.same_output_threshold,
                "enable_translation": False,
            }
        )


@dataclass(frozen=True)
class Segment:
    """One transcript segment; `start`/`end` are seconds of stream audio (sent as strings)."""

    start: float
    end: float
    text: str
    completed: bool


@dataclass(frozen=True)
class Ready:
    """SERVER_READY: the server loaded a model for this stream; the live clock starts now."""

    backend: str


@dataclass(frozen=True)
class Wait:
    """The server refused the stream (full, overloaded or rate limited); `minutes` is its wait estimate."""

    minutes: float


@dataclass(frozen=True)
class ServerError:
    """status ERROR, e.g. a model that failed to load."""

    message: str


@dataclass(frozen=True)
class ServerWarning:
    """status WARNING: informational, the stream goes on."""

    message: str


@dataclass(frozen=True)
class Disconnect:
    """The server ends the stream (max connection time reached)."""


@dataclass(frozen=True)
class Language:
    """Detected language of a multilingual model."""

    code: str
    probability: float


@dataclass(frozen=True)
class Segments:
    """A transcript update: the last few segments, the last one usually incomplete."""

    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Unknown:
    """A well-formed message of a type this client does not know (e.g. translations)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class Malformed:
    """A message that breaks the protocol; `kind` is a bounded label, `detail` a one-line reason."""

    kind: str
    detail: str


ServerEvent = (
    Ready | Wait | ServerError | ServerWarning | Disconnect | Language | Segments | Unknown | Malformed
)

MALFORMED_KINDS = ("binary_frame", "bad_json", "not_an_object", "wrong_uid", "bad_segment")
PROTOCOL_ERROR_KINDS = (*MALFORMED_KINDS, "unknown_type", "oversized")  # every kind a session counts


_SegmentKey = tuple[Any, Any, Any, Any]  # a segment as sent: start, end, text, completed


class StreamDecoder:
    """`decode` for one stream, reusing the `Segment`s of its previous message.

    WhisperLive re-sends its last N segments with every update, nearly all unchanged: an unchanged
    segment (same start, end, text and completed as sent) is the same `Segment` again, not a new one.
    """

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._previous: dict[_SegmentKey, Segment] = {}

    def decode(self, raw: str | bytes) -> ServerEvent:
        """Classify one server frame of this stream."""
        if isinstance(raw, bytes):
            return Malformed("binary_frame", f"unexpected binary frame of {len(raw)} bytes")
        try:
            message = orjson.loads(raw)
        except json.JSONDecodeError as exc:  # orjson's error is a json.JSONDecodeError
            return Malformed("bad_json", f"not JSON ({exc.msg} at char {exc.pos})")
        if not isinstance(message, dict):
            return Malformed("not_an_object", f"JSON {type(message).__name__}, expected an object")
        sent_uid = message.get("uid")
        if sent_uid is not None and sent_uid != self.uid:
            return Malformed("wrong_uid", f"uid {str(sent_uid)[:40]!r} is not this stream's")
        event = _classify(message)
        if event is not None:
            return event
        if "segments" in message:
            return self._segments(message["segments"])
        return Unknown(tuple(sorted(message)))

    def _segments(self, raw_segments: Any) -> Segments | Malformed:
        """Parse a segments list; only this message's segments are kept for the next one."""
        if not isinstance(raw_segments, list):
            return Malformed("bad_segment", "'segments' is not a list")
        previous, current = self._previous, {}
        parsed = []
        for raw in raw_segments:
            key = _cache_key(raw)
            segment = previous.get(key) if key is not None else None
            if segment is None:
                segment = _segment(raw)
                if segment is None:
                    return Malformed("bad_segment", f"segment without numeric start/end: {str(raw)[:80]}")
            if key is not None:
                current[key] = segment
            parsed.append(segment)
        self._previous = current
        return Segments(tuple(parsed))


def decode(raw: str | bytes, uid: str) -> ServerEvent:
    """Classify one server frame for the stream `uid` (no reuse across frames: see `StreamDecoder`)."""
    return StreamDecoder(uid).decode(raw)


def _classify(message: dict[str, Any]) -> ServerEvent | None:
    """The event of a status, control or language message; None for segments or an unknown type."""
    status = message.get("status")
    text = message.get("message")
    if status == "WAIT":
        return Wait(_as_float(text))
    if status == "ERROR":
        return ServerError(str(text))
    if status == "WARNING":
        return ServerWarning(str(text))
    if text == "SERVER_READY":
        return Ready(str(message.get("backend", "")))
    if text == "DISCONNECT":
        return Disconnect()
    if "segments" not in message and "language" in message:
        return Language(str(message["language"]), _as_float(message.get("language_prob")))
    return None


def _segment(raw: Any) -> Segment | None:
    """One segment as sent; None when it has no numeric start/end."""
    try:
        return Segment(
            start=float(raw["start"]),
            end=float(raw["end"]),
            text=str(raw.get("text", "")),
            completed=bool(raw.get("completed", False)),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _cache_key(raw: Any) -> _SegmentKey | None:
    """The fields a `Segment` is made of, as sent; None when they cannot key a cache exactly."""
    if not isinstance(raw, dict) or type(raw.get("text", "")) is not str:
        return None  # e.g. text 1 and 1.0 are equal keys but different texts
    key = (raw.get("start"), raw.get("end"), raw.get("text", ""), raw.get("completed", False))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
