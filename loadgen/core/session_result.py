"""What one measured stream produced: the record written as one JSON line when the session ends."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loadgen.core.kpi import WordErrors
from loadgen.core.untranscribed import Untranscribed

OK, RECOVERED, REFUSED, ERROR, DROPPED, STOPPED = "ok", "recovered", "refused", "error", "dropped", "stopped"
OUTCOMES = (OK, RECOVERED, REFUSED, ERROR, DROPPED, STOPPED)
# recovered: dropped mid-stream, reconnected through the balancer and finished (counts as a success).
# stopped: ended by the load generator itself (target lowered, run stopped): neither success nor failure.
SUCCESSES = (OK, RECOVERED)


@dataclass
class SessionResult:
    """One session: outcome, timings (seconds), lag samples, transcript and its errors."""

    client: int
    seq: int
    uid: str
    utterances: list[str]
    started_at: float
    ended_at: float | None = None  # unix seconds, same clock as started_at; None: a file written before it
    outcome: str = OK
    error_kind: str | None = None
    error_detail: str | None = None
    replica: str | None = None  # the replica that served the first connection
    replicas: list[str] = field(default_factory=list)  # every replica that served it, in order
    reconnects: int = 0
    reconnect_s: list[float] = field(default_factory=list)  # drop to SERVER_READY again, per reconnect
    offline_s: float = 0.0  # total time without a streaming connection after the first SERVER_READY
    audio_lost_s: float = 0.0  # audio that fell in the gaps (never sent)
    connect_s: float | None = None
    server_ready_s: float | None = None
    first_text_s: float | None = None
    drain_s: float | None = None
    audio_sent_s: float = 0.0
    tail_sent_s: float = 0.0
    chunks_sent: int = 0
    segments_received: int = 0
    transcript_lags_s: list[float] = field(default_factory=list)
    finalization_lags_s: list[float] = field(default_factory=list)
    send_slips_s: list[float] = field(default_factory=list)
    unfinalized_segments: int = 0
    protocol_errors: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    reference: str | None = None
    hypothesis: str = ""
    word_errors: WordErrors | None = None
    # speech no received segment covered, and by cause (core/untranscribed); None: not measured (a
    # session that never streamed, or a file written before these fields)
    audio_untranscribed_s: float | None = None
    untranscribed: Untranscribed | None = None
    # the plan's speech and its share of the audio (core/speech); None: a file written before them
    speech_s: float | None = None
    speech_ratio: float | None = None
    idle: bool = False  # an idle client (--idle-clients): handshake, then silence or nothing; never measured

    def fail(self, outcome: str, kind: str, detail: str) -> None:
        """Mark the session failed; the first failure wins."""
        if self.outcome == OK:
            self.outcome, self.error_kind, self.error_detail = outcome, kind, detail

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (samples rounded to 0.1 ms; the untranscribed speech only when measured;
        `ended_at` only when known: a record read from a file written before it)."""
        out = asdict(self)
        if self.ended_at is None:
            del out["ended_at"]
        if self.untranscribed is None:
            del out["audio_untranscribed_s"], out["untranscribed"]
        if not self.idle:
            del out["idle"]
        if self.speech_s is None:
            del out["speech_s"], out["speech_ratio"]
        for key in ("transcript_lags_s", "finalization_lags_s", "send_slips_s"):
            out[key] = [round(v, 4) for v in out[key]]
        return out

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SessionResult:
        """Inverse of `to_json_dict`."""
        data = dict(data)
        if data.get("word_errors") is not None:
            data["word_errors"] = WordErrors(**data["word_errors"])
        data["untranscribed"] = Untranscribed.from_json(data.get("untranscribed"))
        return cls(**data)


@dataclass
class RunRecord:
    """What the run as a whole did, beyond its sessions."""

    started_at: float
    ended_at: float = 0.0
    peak_streams: int = 0
    results: list[SessionResult] = field(default_factory=list)
