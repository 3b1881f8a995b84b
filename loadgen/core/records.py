"""The records that cross module and process boundaries, as frozen dataclasses. Pure.

A measurement window's snapshot, a step record (one line of steps.jsonl), a verdict, a driver's status
and window answer (the control API's `GET /status` and `GET /window`). Each converts to JSON with
`to_json_dict()` and back with `from_json()`, and only the edges (steps.jsonl, the control API, the
report's reader) call them; docs/RUN_DIR.md is the schema.

Readers of files are tolerant (a report of an interrupted or older run still renders): a field a writer
did not write reads as None (or empty), never an error. Readers of the control API are strict: an answer
that is not a status is a `ValueError` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from loadgen.core.kpi import LatencyStats
from loadgen.core.untranscribed import Untranscribed

LATENCIES = ("transcript_lag", "finalization_lag", "send_slip", "handshake")
UNKNOWN_REPLICA = ""  # the replica of a session whose balancer did not name one (metrics label, JSON key)


def replica_label(replica: str) -> str:
    """How a replica is shown to a reader: its name, or what an unnamed one means."""
    return replica or "(no X-Upstream)"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _counts(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in _object(value).items() if _num(v) is not None}


@dataclass(frozen=True)
class Shard:
    """This generator's place among `count` shards."""

    index: int
    count: int

    def share(self, clients: int) -> int:
        """This shard's part of `clients`."""
        return clients // self.count + (1 if self.index < clients % self.count else 0)

    def to_json_dict(self) -> dict[str, int]:
        """The `shard` object of run.json and of each step record."""
        return {"index": self.index, "count": self.count}

    @classmethod
    def from_json(cls, data: Any) -> Shard | None:
        """A `shard` object (None when it is not one)."""
        index, count = _int(_object(data).get("index")), _int(_object(data).get("count"))
        return None if index is None or count is None else cls(index, count)


def _latency(block: Any) -> LatencyStats | None:
    """A percentile block of a window (None: `null`, or not a complete block)."""
    values = [_num(_object(block).get(name)) for name in ("count", "avg", "p50", "p95", "p99", "max")]
    if any(v is None for v in values):
        return None
    count, avg, p50, p95, p99, top = (v or 0.0 for v in values)
    return LatencyStats(int(count), avg, p50, p95, p99, top)


@dataclass(frozen=True)
class ActiveClients:
    """Streaming sessions over a window: the fewest, the most, the time-weighted average."""

    min: int
    max: int
    avg: float


@dataclass(frozen=True)
class ReplicaCounts:
    """What one serving replica did in a window."""

    sessions: int  # connections that reached SERVER_READY on it in the window
    transcribed_audio_s: float

    @classmethod
    def from_json(cls, data: Any) -> ReplicaCounts:
        """Missing counts read as 0."""
        values = _object(data)
        return cls(_int(values.get("sessions")) or 0, _num(values.get("transcribed_audio_s")) or 0.0)


_OPTIONAL_WINDOW_FIELDS = (
    "substitutions",
    "deletions",
    "insertions",
    "audio_untranscribed_s",
    "untranscribed",
    "histograms",
    "speech_ratio",
    "planned_audio_s",
    "handshake",
    "refusals",
    "arrivals_dropped",
)


@dataclass(frozen=True)
class WindowSnapshot:
    """The `window` object of a step record (docs/RUN_DIR.md)."""

    duration_s: float
    active_clients: ActiveClients | None  # None: a record without it
    sessions: dict[str, int]  # outcome -> sessions that ended in the window
    connect_attempts: int | None  # None: a record written before connections were counted
    connects_ready: int | None
    error_kinds: dict[str, int]
    transcript_lag: LatencyStats | None  # None: no sample
    finalization_lag: LatencyStats | None
    send_slip: LatencyStats | None
    word_errors: int
    reference_words: int
    wer: float | None
    audio_sent_s: float
    transcribed_audio_s: float
    throughput: float | None
    replicas: dict[str, ReplicaCounts]
    # the split of `word_errors`; None: a record written before it
    substitutions: int | None = None
    deletions: int | None = None
    insertions: int | None = None
    # speech no segment covered, sessions ended in the window (core/untranscribed); None: not written
    audio_untranscribed_s: float | None = None
    untranscribed: Untranscribed | None = None
    histograms: dict[str, str] | None = None  # latency -> encoded HdrHistogram; None: not written
    # the speech share of the plans of the sessions that streamed in the window, over `planned_audio_s`
    # seconds of planned audio (core/speech); None: not written
    speech_ratio: float | None = None
    planned_audio_s: float | None = None
    # connections since the step's start: connect to SERVER_READY (s), and handshakes refused (WAIT or an
    # HTTP rejection); None: a record written before them (issue 16)
    handshake: LatencyStats | None = None
    refusals: int | None = None
    # rate mode: arrivals dropped at --max-concurrency in the window; None: closed clients, or a record
    # written before it
    arrivals_dropped: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object, in the documented field order (the optional fields only when written)."""
        data = asdict(self)
        for key in _OPTIONAL_WINDOW_FIELDS:
            if data[key] is None:
                del data[key]
        return data

    @classmethod
    def from_json(cls, data: Any) -> WindowSnapshot:
        """A `window` object, tolerantly (see the module docstring)."""
        w = _object(data)
        active = _object(w.get("active_clients"))
        low, high, avg = (_num(active.get(k)) for k in ("min", "max", "avg"))
        histograms = w.get("histograms")
        return cls(
            duration_s=_num(w.get("duration_s")) or 0.0,
            active_clients=None
            if low is None or high is None or avg is None
            else ActiveClients(int(low), int(high), avg),
            sessions=_counts(w.get("sessions")),
            connect_attempts=_int(w.get("connect_attempts")),
            connects_ready=_int(w.get("connects_ready")),
            error_kinds=_counts(w.get("error_kinds")),
            transcript_lag=_latency(w.get("transcript_lag")),
            finalization_lag=_latency(w.get("finalization_lag")),
            send_slip=_latency(w.get("send_slip")),
            word_errors=_int(w.get("word_errors")) or 0,
            reference_words=_int(w.get("reference_words")) or 0,
            wer=_num(w.get("wer")),
            audio_sent_s=_num(w.get("audio_sent_s")) or 0.0,
            transcribed_audio_s=_num(w.get("transcribed_audio_s")) or 0.0,
            throughput=_num(w.get("throughput")),
            replicas={str(k): ReplicaCounts.from_json(v) for k, v in _object(w.get("replicas")).items()},
            substitutions=_int(w.get("substitutions")),
            deletions=_int(w.get("deletions")),
            insertions=_int(w.get("insertions")),
            audio_untranscribed_s=_num(w.get("audio_untranscribed_s")),
            untranscribed=Untranscribed.from_json(w.get("untranscribed")),
            histograms={str(k): str(v) for k, v in histograms.items() if isinstance(v, str)}
            if isinstance(histograms, Mapping)
            else None,
            speech_ratio=_num(w.get("speech_ratio")),
            planned_audio_s=_num(w.get("planned_audio_s")),
            handshake=_latency(w.get("handshake")),
            refusals=_int(w.get("refusals")),
            arrivals_dropped=_int(w.get("arrivals_dropped")),
        )


@dataclass(frozen=True)
class Criterion:
    """One named check: passed is None when the window had no data for it."""

    name: str
    value: float | None
    limit: float | None
    passed: bool | None
    detail: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Criterion:
        """A criterion object; fields that are missing or of the wrong type read as None (or "")."""
        passed = data.get("passed")
        return cls(
            name=str(data.get("name") or ""),
            value=_num(data.get("value")),
            limit=_num(data.get("limit")),
            passed=passed if isinstance(passed, bool) else None,
            detail=str(data.get("detail") or ""),
        )


@dataclass(frozen=True)
class Verdict:
    """A judgement and its answer in one line: of a step (with the criteria behind it) or of a run."""

    passed: bool
    headline: str
    criteria: tuple[Criterion, ...] = ()

    @classmethod
    def of(cls, criteria: tuple[Criterion, ...]) -> Verdict:
        """A step's verdict: it passes when no criterion failed."""
        failing = [c.name for c in criteria if c.passed is False]
        return cls(not failing, "FAIL: " + ", ".join(failing) if failing else "PASS", criteria)

    @property
    def failing(self) -> list[Criterion]:
        """The criteria that failed, in order."""
        return [c for c in self.criteria if c.passed is False]

    def criterion(self, name: str) -> Criterion | None:
        """The criterion called `name`, if it was judged."""
        return next((c for c in self.criteria if c.name == name), None)

    def to_json_dict(self) -> dict[str, Any]:
        """The `verdict` object of a step record (docs/RUN_DIR.md)."""
        return {"passed": self.passed, "criteria": [asdict(c) for c in self.criteria]}

    @classmethod
    def from_json(cls, data: Any) -> Verdict | None:
        """A step's `verdict` object as written (None: not judged, `passed` is not a boolean)."""
        verdict = _object(data)
        passed = verdict.get("passed")
        if not isinstance(passed, bool):
            return None
        criteria = tuple(
            Criterion.from_json(c) for c in verdict.get("criteria") or [] if isinstance(c, Mapping)
        )
        failing = [c.name for c in criteria if c.passed is False]
        headline = "PASS" if passed else "FAIL: " + ", ".join(failing)
        return cls(passed, headline, criteria)


@dataclass(frozen=True)
class StepRecord:
    """One judged step (or soak window): a line of steps.jsonl, or the shards' lines of a step merged."""

    index: int
    clients: int  # this generator's (a shard's part) or, merged, the whole step's
    phase: str
    started_at: float | None  # target set; None only in a record a reader found without it
    measure_from: float | None  # the window's start
    ended_at: float | None
    window: WindowSnapshot | None  # None: a record cut short before it was measured
    verdict: Verdict | None  # None: not judged
    baseline_wer: float | None = None
    shard: Shard | None = None  # a shard's record: which shard, and the whole step's clients
    step_clients: int | None = None
    shards: int | None = None  # merged: how many shards, and how far apart they started the step
    start_spread_s: float | None = None
    repeat: int | None = None  # `ramp --repeat R`: which repetition of the search (0..R-1)
    rate: float | None = None  # rate mode (`--arrival poisson|constant`): the step's sessions per second

    @property
    def passed(self) -> bool | None:
        """The verdict (None: not judged)."""
        return None if self.verdict is None else self.verdict.passed

    def to_json_dict(self) -> dict[str, Any]:
        """The steps.jsonl line; the shard fields only where they apply."""
        data: dict[str, Any] = {
            "index": self.index,
            "clients": self.clients,
            "phase": self.phase,
            "started_at": self.started_at,
            "measure_from": self.measure_from,
            "ended_at": self.ended_at,
            "window": None if self.window is None else self.window.to_json_dict(),
            "verdict": None if self.verdict is None else self.verdict.to_json_dict(),
            "baseline_wer": self.baseline_wer,
        }
        optional = {
            "shard": None if self.shard is None else self.shard.to_json_dict(),
            "step_clients": self.step_clients,
            "shards": self.shards,
            "start_spread_s": self.start_spread_s,
            "repeat": self.repeat,
            "rate": self.rate,
        }
        return data | {k: v for k, v in optional.items() if v is not None}

    @classmethod
    def from_json(cls, data: Any) -> StepRecord:
        """A steps.jsonl line, tolerantly (see the module docstring)."""
        r = _object(data)
        window = r.get("window")
        return cls(
            index=_int(r.get("index")) or 0,
            clients=_int(r.get("clients")) or 0,
            phase=str(r.get("phase", "")),
            started_at=_num(r.get("started_at")),
            measure_from=_num(r.get("measure_from")),
            ended_at=_num(r.get("ended_at")),
            window=WindowSnapshot.from_json(window) if isinstance(window, Mapping) else None,
            verdict=Verdict.from_json(r.get("verdict")),
            baseline_wer=_num(r.get("baseline_wer")),
            shard=Shard.from_json(r.get("shard")),
            step_clients=_int(r.get("step_clients")),
            shards=_int(r.get("shards")),
            start_spread_s=_num(r.get("start_spread_s")),
            repeat=_int(r.get("repeat")),
            rate=_num(r.get("rate")),
        )


def _field(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{key!r} is {value!r}")
    return value


@dataclass(frozen=True)
class CorpusInfo:
    """The audio a load generator streams."""

    root: str
    layout: str
    files: int
    duration_s: float


@dataclass(frozen=True)
class DriverStatus:
    """A load generator's state: the control API's `GET /status` answer."""

    url: str
    mode: str  # how the clients stream: per-file or continuous
    corpus: CorpusInfo
    target: int
    clients: int  # alive
    retiring: int
    active: int  # streaming
    step: int | None  # the ramp step it was last told
    window_started_at: float | None
    sessions_ended: int
    recording: str | None  # the sessions file it appends to
    rate: float | None = None  # rate mode: sessions started per second now (None: closed clients)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON answer."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> DriverStatus:
        """A `GET /status` answer; ValueError names the first field that is missing or wrong."""
        s = _object(data)
        corpus = _object(s.get("corpus"))
        number = (int, float)
        return cls(
            url=_field(s, "url", str),
            mode=_field(s, "mode", str),
            corpus=CorpusInfo(
                _field(corpus, "root", str),
                _field(corpus, "layout", str),
                _field(corpus, "files", int),
                float(_field(corpus, "duration_s", number)),
            ),
            target=_field(s, "target", int),
            clients=_field(s, "clients", int),
            retiring=_field(s, "retiring", int),
            active=_field(s, "active", int),
            step=_field(s, "step", int, optional=True),
            window_started_at=_field(s, "window_started_at", number, optional=True),
            sessions_ended=_field(s, "sessions_ended", int),
            recording=_field(s, "recording", str, optional=True),
            rate=None if s.get("rate") is None else float(_field(s, "rate", number)),
        )


@dataclass(frozen=True)
class WindowReading:
    """The current window, measured until now: the control API's `GET /window` answer."""

    started_at: float
    target: int
    active: int
    window: WindowSnapshot

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON answer."""
        return {
            "started_at": self.started_at,
            "target": self.target,
            "active": self.active,
            "window": self.window.to_json_dict(),
        }

    @classmethod
    def from_json(cls, data: Any) -> WindowReading:
        """A `GET /window` answer; ValueError names the first field that is missing or wrong."""
        answer = _object(data)
        return cls(
            started_at=window_start_from_json(answer),
            target=_field(answer, "target", int),
            active=_field(answer, "active", int),
            window=WindowSnapshot.from_json(_field(answer, "window", Mapping)),
        )


def window_start_from_json(data: Any) -> float:
    """The `started_at` of a `POST /window` or `GET /window` answer; ValueError when it has none."""
    return float(_field(_object(data), "started_at", (int, float)))
