"""What traffic a run offered: arrivals, session lengths, speech activity, idle clients, trace. Pure.

The workload travels with the run (run.json's `workload`, the summary's manifest, the report header), so
that two runs' capacities are never compared without knowing they measured the same traffic:
`differences(a, b)` names every field that differs, and `loadgen compare` warns with them.

`Workload.from_flags(args)` reads the parsed flags with `getattr` and a default each, so one builder serves
`run`, `ramp`, `soak` and `serve`, and a flag another command lacks reads as its default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

CLOSED = "closed"  # N clients, each starting its next session when the last one ends


@dataclass(frozen=True)
class Workload:
    """The traffic of one run; None: not set (or not applicable to the run's mode)."""

    arrival: str = CLOSED  # closed | poisson | constant
    rate: float | None = None  # sessions per second (open arrivals)
    max_concurrency: int | None = None  # the cap on concurrent sessions (open arrivals)
    mode: str | None = None  # per-file | continuous
    session_length: str | None = None  # its spec, e.g. "fixed:300" (continuous sessions)
    gap_s: float | None = None  # silence between files without a speech model (continuous)
    speech_ratio: float | None = None  # None with profiles, or without a speech model
    profiles: str | None = None  # "listener:70%@0.2,talker:30%@0.6"
    pause_dist: str | None = None  # set with a speech model
    seed: int | None = None
    idle_clients: int = 0
    idle_mode: str | None = None  # set with idle clients
    trace: str | None = None  # the trace file replayed
    time_scale: float | None = None

    @classmethod
    def from_flags(cls, args: object) -> Workload:
        """The workload of parsed command-line flags (absent flags read as their default)."""

        def flag(name: str) -> Any:
            return getattr(args, name, None)

        mode = flag("mode")
        continuous = mode == "continuous"
        speech = flag("speech_ratio") is not None or flag("profiles") is not None
        idle = int(flag("idle_clients") or 0)
        trace = flag("trace")
        return cls(
            arrival=str(flag("arrival") or CLOSED),
            rate=flag("rate"),
            max_concurrency=flag("max_concurrency"),
            mode=mode,
            # `run` without --session-length: its continuous session lasts --duration
            session_length=_length_spec(flag("session_length") or flag("duration")) if continuous else None,
            gap_s=flag("gap") if continuous and not speech else None,
            speech_ratio=flag("speech_ratio"),
            profiles=flag("profiles"),
            pause_dist=flag("pause_dist") if speech else None,
            seed=flag("seed") if speech or flag("arrival") not in (None, CLOSED) else None,
            idle_clients=idle,
            idle_mode=flag("idle_mode") if idle else None,
            trace=None if trace is None else str(trace),
            time_scale=flag("time_scale") if trace is not None else None,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object (every field, unset ones null)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Workload | None:
        """A `workload` object, tolerantly: unknown fields are ignored, missing ones default (None: no
        object, a run written before workloads were recorded)."""
        if not isinstance(data, dict):
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        """One line, e.g. `closed loop, continuous sessions of fixed:300 s, speech 30 % (exponential
        pauses, seed 1), +4 idle clients (silence)`."""
        if self.arrival == CLOSED:
            parts = ["closed loop"]
        else:
            cap = f", at most {self.max_concurrency} concurrent" if self.max_concurrency else ""
            parts = [f"{self.arrival} arrivals at {_num(self.rate)}/s{cap}"]
        if self.trace is not None:
            parts.append(f"trace {self.trace} at {_num(self.time_scale or 1.0)}x")
        if self.mode == "continuous":
            length = f" of {self.session_length} s" if self.session_length else ""
            parts.append(f"continuous sessions{length}")
        elif self.mode is not None:
            parts.append(f"{self.mode} sessions")
        if self.profiles is not None:
            parts.append(f"profiles {self.profiles} ({self.pause_dist} pauses, seed {self.seed})")
        elif self.speech_ratio is not None:
            parts.append(f"speech {self.speech_ratio * 100:g} % ({self.pause_dist} pauses, seed {self.seed})")
        elif self.gap_s is not None:
            parts.append(f"{_num(self.gap_s)} s gaps")
        if self.idle_clients:
            parts.append(f"+{self.idle_clients} idle clients ({self.idle_mode})")
        return ", ".join(parts)


def differences(a: Workload, b: Workload) -> list[str]:
    """`field: A vs B` for every field that differs, in field order (empty: the same workload)."""
    first, second = a.to_json_dict(), b.to_json_dict()
    return [f"{k}: {_shown(first[k])} vs {_shown(second[k])}" for k in first if first[k] != second[k]]


def _length_spec(value: object) -> str | None:
    """--session-length as a spec: a plain number means fixed."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return f"fixed:{value:g}"
    return str(value)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _shown(value: object) -> str:
    return "-" if value is None else str(value)
