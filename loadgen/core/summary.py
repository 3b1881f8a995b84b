"""Run summary: pools every session's samples into the KPIs of docs/METRICS.md. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from loadgen.core.kpi import LatencyStats, ratio, total_word_errors
from loadgen.core.session_result import DROPPED, ERROR, OUTCOMES, REFUSED, STOPPED, SUCCESSES, SessionResult
from loadgen.core.untranscribed import NONE, Untranscribed


@dataclass(frozen=True)
class ReplicaShare:
    """How much of the run one replica served."""

    sessions: int
    audio_s: float


@dataclass(frozen=True)
class RunSummary:
    """The KPIs of one run."""

    sessions: int
    outcomes: dict[str, int]
    error_kinds: dict[str, int]
    success_ratio: float
    refusal_ratio: float
    error_ratio: float
    transcript_lag: LatencyStats
    finalization_lag: LatencyStats
    first_text: LatencyStats
    drain: LatencyStats
    connect: LatencyStats
    server_ready: LatencyStats
    send_slip: LatencyStats
    wer: float
    word_errors: int
    reference_words: int
    unfinalized_segments: int
    audio_sent_s: float
    replicas: dict[str, ReplicaShare] = field(default_factory=dict)
    # the word errors split (successful sessions, as `word_errors`)
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    # speech no segment covered, every session that streamed (core/untranscribed), and by cause
    audio_untranscribed_s: float = 0.0
    untranscribed: Untranscribed = NONE
    # the share of the planned audio that was speech (core/speech; None: no plan recorded), and the idle
    # clients' sessions, which count nowhere else
    speech_ratio: float | None = None
    idle_sessions: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the speech ratio and idle sessions only when there are)."""
        out = asdict(self)
        if self.speech_ratio is None:
            del out["speech_ratio"]
        if not self.idle_sessions:
            del out["idle_sessions"]
        return out


def achieved_speech_ratio(results: Iterable[SessionResult]) -> float | None:
    """Speech seconds / audio seconds of the sessions' plans (None: no session with a plan)."""
    speech = audio = 0.0
    for r in results:
        if r.speech_s is not None and r.speech_ratio:
            speech += r.speech_s
            audio += r.speech_s / r.speech_ratio
    return round(speech / audio, 4) if audio > 0 else None


def summarize(all_results: Sequence[SessionResult]) -> RunSummary:
    """Pool all sessions of a run (an idle client's are counted, nothing else)."""
    results = [r for r in all_results if not r.idle]
    outcomes = Counter({o: 0 for o in OUTCOMES})
    outcomes.update(r.outcome for r in results)
    scored = total_word_errors(
        r.word_errors for r in results if r.word_errors is not None and r.outcome in SUCCESSES
    )
    untranscribed = Untranscribed.sum(r.untranscribed for r in results).rounded()
    total = len(results)
    judged = total - outcomes[STOPPED]  # sessions the generator ended itself count neither way
    return RunSummary(
        sessions=total,
        outcomes=dict(outcomes),
        error_kinds=dict(Counter(r.error_kind for r in results if r.error_kind)),
        success_ratio=ratio(sum(outcomes[o] for o in SUCCESSES), judged),
        refusal_ratio=ratio(outcomes[REFUSED], judged),
        error_ratio=ratio(outcomes[ERROR] + outcomes[DROPPED], judged),
        transcript_lag=LatencyStats.of(_pool(results, "transcript_lags_s")),
        finalization_lag=LatencyStats.of(_pool(results, "finalization_lags_s")),
        first_text=LatencyStats.of(_values(results, "first_text_s")),
        drain=LatencyStats.of(_values(results, "drain_s")),
        connect=LatencyStats.of(_values(results, "connect_s")),
        server_ready=LatencyStats.of(_values(results, "server_ready_s")),
        send_slip=LatencyStats.of(_pool(results, "send_slips_s")),
        wer=scored.wer,
        word_errors=scored.errors,
        reference_words=scored.reference_words,
        unfinalized_segments=sum(r.unfinalized_segments for r in results),
        audio_sent_s=sum(r.audio_sent_s for r in results),
        replicas=_replicas(results),
        substitutions=scored.substitutions,
        deletions=scored.deletions,
        insertions=scored.insertions,
        audio_untranscribed_s=round(untranscribed.total_s, 3),
        untranscribed=untranscribed,
        speech_ratio=achieved_speech_ratio(results),
        idle_sessions=len(all_results) - len(results),
    )


def _pool(results: Sequence[SessionResult], attr: str) -> list[float]:
    return [v for r in results for v in getattr(r, attr)]


def _values(results: Sequence[SessionResult], attr: str) -> list[float]:
    return [v for r in results if (v := getattr(r, attr)) is not None]


def _replicas(results: Sequence[SessionResult]) -> dict[str, ReplicaShare]:
    sessions: Counter[str] = Counter()
    audio: dict[str, float] = {}
    for r in results:
        if r.replica:
            sessions[r.replica] += 1
            audio[r.replica] = audio.get(r.replica, 0.0) + r.audio_sent_s
    return {k: ReplicaShare(sessions[k], audio[k]) for k in sorted(sessions)}
