"""The comparison report of a sweep (`loadgen sweep`): which configuration carries most streams. Pure.

Built from sweep.json (read into `SweepInputs` by `report.edge.sweep`) and each configuration's ramp run
directory, reported the way `loadgen report` reports one run. Per configuration: capacity (a
`ramp --repeat` run's median and range), streams per replica, per host core and per GPU, and p95 lag,
WER, goodput, CPU and GPU use at capacity: in the last passing window at the capacity's client count (of
the repetition at the median). Resources are those the run's summary.json saved from Prometheus, or
none ("not measured").

The best configuration is the finished one with the largest median capacity (a tie: fewer replicas, then
matrix order); its margin over the runner-up is "larger than the run-to-run spread" when their ranges do
not overlap, "within the spread" when they do, unknown when either ran a single search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from loadgen.core.repeat import EN_DASH
from loadgen.core.sweep_state import rank_key
from loadgen.report.model.report import Report, RunInputs, build_report, json_ready
from loadgen.report.model.steps import StepRow
from loadgen.report.model.tables import DASH, Section, Table, number, percent, seconds, when

DONE, FAILED, PENDING, RUNNING = "done", "failed", "pending", "running"
LARGER, WITHIN, UNKNOWN, ALONE, NONE = (
    "larger than spread",
    "within spread",
    "spread unknown",
    "alone",
    "none",
)
NOT_MEASURED = "not measured"


# How a server setting reads in a label ("{}" is its value); a setting not named here reads "name value".
SETTING_TEXT = {
    "mode": "{}",
    "replicas": "replicas {}",
    "batch_max_size": "batch size {}",
    "batch_max_queue_wait_s": "queue wait {} s",
    "model": "{}",
    "compute_type": "{}",
    "omp_threads": "OMP {}",
    "max_clients": "max clients {}",
}


def settings_label(server: dict[str, str]) -> str:
    """ "batch, replicas 3, batch size 8, tiny.en, OMP 1": the settings set, in sweep.json's order."""
    return ", ".join(SETTING_TEXT.get(name, f"{name} {{}}").format(value) for name, value in server.items())


@dataclass(frozen=True)
class SweepConfig:
    """One configuration as sweep.json records it."""

    id: str
    server: dict[str, str]  # the server settings sweep.json sets (its nulls left out), as text
    replicas: int | None
    workload: dict[str, str]  # traffic flag -> value
    status: str
    run_dir: str | None
    capacity: float | None
    low: float | None
    high: float | None
    error: str | None
    wall_s: float | None = None


@dataclass(frozen=True)
class SweepInfo:
    """What sweep.json says of the whole sweep."""

    path: str
    gpus: tuple[str, ...]  # target_info: one entry per GPU
    repeat: int
    matrix_file: str | None = None
    target: str | None = None
    host_cpus: float | None = None  # target_info
    started_at: float | None = None
    updated_at: float | None = None
    wall_s: float | None = None
    best: str | None = None  # what sweep.json names best


@dataclass(frozen=True)
class SweepInputs:
    """sweep.json and the inputs of every configuration's run directory that could be read."""

    info: SweepInfo
    configs: list[SweepConfig]
    runs: dict[str, RunInputs] = field(default_factory=dict)  # by configuration id
    unreadable: dict[str, str] = field(default_factory=dict)  # configuration id -> why its run dir is not


@dataclass(frozen=True)
class AtCapacity:
    """The window that proves the capacity (its p95 lag, WER, goodput...) and what it used."""

    row: StepRow
    cpu_cores: float | None  # all replicas together; None: not measured
    cpu_share: float | None  # of the host's cores
    gpu_util_pct: dict[str, float]  # by GPU; empty: not measured


@dataclass(frozen=True)
class ConfigResult:
    """One configuration in the comparison."""

    id: str
    settings: str  # the server settings' label
    server: dict[str, str]
    replicas: int | None  # sweep.json's, else the run's run.json
    workload: dict[str, str]
    status: str
    error: str | None
    run_dir: str | None
    runs: int  # searches behind the capacity (the repetitions of `--repeat`); 0: none
    capacities: list[int | None]  # each search's answer; empty: not known (no run directory read)
    capacity: float | None  # the median
    low: float | None
    high: float | None
    per_replica: float | None
    per_core: float | None
    per_gpu: float | None
    host_cpus: float | None
    at_capacity: AtCapacity | None
    wall_s: float | None
    notes: list[str]

    def range_text(self) -> str:
        """ "3-4" (an en dash), or a dash without a capacity or with a single search (spread unknown)."""
        if self.low is None or self.high is None or self.runs < 2:
            return DASH
        return f"{self.low:g}{EN_DASH}{self.high:g}"


@dataclass(frozen=True)
class Decision:
    """The answer: the best configuration, its margin over the runner-up, and the spread's judgement."""

    best: str | None
    runner_up: str | None
    margin: float | None  # streams
    margin_pct: float | None  # of the runner-up's capacity
    spread: str  # LARGER, WITHIN, UNKNOWN, ALONE (no runner-up) or NONE (no best)
    sentence: str


@dataclass(frozen=True)
class SweepReport:
    """The whole comparison."""

    info: SweepInfo
    decision: Decision
    configs: list[ConfigResult]  # in matrix order
    notes: list[str]

    @property
    def unfinished(self) -> list[ConfigResult]:
        """Failed, pending or still-running configurations."""
        return [c for c in self.configs if c.status != DONE]

    def to_json_dict(self) -> dict[str, Any]:
        """sweep_report.json: every field, NaN as null."""
        data: dict[str, Any] = json_ready(asdict(self))
        return data


def _capacity_window(report: Report) -> StepRow | None:
    """The last passing window at the capacity's client count, in the repetition at the median."""
    cap = report.capacity.max_clients
    repeat = next((r.repeat for r in report.repeats if r.capacity is report.capacity), None)
    rows = [
        r for r in report.rows if r.clients == cap and r.passed and (repeat is None or r.repeat == repeat)
    ]
    return max(rows, key=lambda r: r.index, default=None)


def _at_capacity(report: Report, host_cpus: float | None) -> AtCapacity | None:
    row = _capacity_window(report)
    if row is None:
        return None
    usage = report.resources.get(row.index)
    cores = [u.cpu_cores for u in usage.replicas.values() if u.cpu_cores is not None] if usage else []
    cpu = sum(cores) if cores else None
    gpus = {g: u.util_pct for g, u in usage.gpus.items() if u.util_pct is not None} if usage else {}
    return AtCapacity(row, cpu, cpu / host_cpus if cpu is not None and host_cpus else None, gpus)


def _ratio(value: float | None, per: float | None) -> float | None:
    return value / per if value is not None and per else None


def _config(config: SweepConfig, inputs: SweepInputs) -> ConfigResult:
    notes = []
    if config.id in inputs.unreadable:
        notes.append(f"run directory unreadable: {inputs.unreadable[config.id]}")
    run = inputs.runs.get(config.id)
    report = build_report(run) if run is not None else None
    capacities: list[int | None] = []  # unknown without the run directory
    capacity, low, high = config.capacity, config.low, config.high
    runs = 0 if capacity is None else max(inputs.info.repeat, 1)
    host_cpus, replicas, at_capacity = inputs.info.host_cpus, config.replicas, None
    if report is not None:
        repeated = report.repeated
        if repeated is not None:
            capacities = list(repeated.capacities)
            capacity, low, high = repeated.median, repeated.low, repeated.high
        else:
            capacities = [report.capacity.max_clients]
            capacity = low = high = report.capacity.max_clients
        runs = len(capacities)
        if config.capacity is not None and config.capacity != capacity:
            notes.append(
                f"sweep.json records capacity {config.capacity:g}; the run directory's steps give "
                f"{DASH if capacity is None else f'{capacity:g}'} (used)"
            )
        host_cpus = host_cpus or report.run.host_cpus
        replicas = replicas or report.run.replicas
        at_capacity = _at_capacity(report, host_cpus)
        if capacity is None and config.status != DONE:
            notes.append(report.verdict.headline)  # why the run found none
    elif config.status == DONE:
        notes.append("no run directory to read: capacity as sweep.json records it, nothing at capacity")
    if capacity is None and config.status == DONE:  # a finished ramp that found none: say why
        why = config.error or (report.verdict.headline if report is not None else "reason not recorded")
        notes.append(f"no capacity: {why}")
    return ConfigResult(
        id=config.id,
        settings=settings_label(config.server),
        server=dict(config.server),
        replicas=replicas,
        workload=dict(config.workload),
        status=config.status,
        error=config.error,
        run_dir=config.run_dir,
        runs=runs,
        capacities=capacities,
        capacity=capacity,
        low=low,
        high=high,
        per_replica=_ratio(capacity, replicas),
        per_core=_ratio(capacity, host_cpus),
        per_gpu=_ratio(capacity, len(inputs.info.gpus)),
        host_cpus=host_cpus,
        at_capacity=at_capacity,
        wall_s=config.wall_s,
        notes=notes,
    )


def _ranked(configs: Sequence[ConfigResult]) -> list[ConfigResult]:
    """Finished configurations with a capacity, best first: capacity, then fewer replicas, then order."""
    order = {c.id: i for i, c in enumerate(configs)}
    found = [c for c in configs if c.status == DONE and c.capacity is not None]
    return sorted(found, key=lambda c: rank_key(c.capacity, c.replicas, order[c.id]))


def _cap(c: ConfigResult, unit: str = "") -> str:
    """ "10 streams (range 9-11)" (an en dash; the range only with repeated searches)."""
    text = f"{c.capacity:g}{unit}"
    return text if c.runs < 2 else f"{text} (range {c.range_text()})"


def decide(configs: Sequence[ConfigResult]) -> Decision:
    """The best configuration, its margin over the runner-up, and whether the margin beats the spread."""
    ranked = _ranked(configs)
    if not ranked:
        return Decision(None, None, None, None, NONE, "No finished configuration found a capacity.")
    best = ranked[0]
    lead = f"Deploy {best.id} ({best.settings}): {_cap(best, ' concurrent streams')}"
    if len(ranked) == 1:
        return Decision(best.id, None, None, None, ALONE, f"{lead}; no other configuration found a capacity.")
    runner = ranked[1]
    margin = (best.capacity or 0) - (runner.capacity or 0)
    pct = 100 * margin / runner.capacity if runner.capacity else None
    versus = f"{runner.id} at {_cap(runner)}"
    if margin == 0:
        head = f"{lead}, tied with {versus}"
        if (best.replicas or 0) < (runner.replicas or 0):
            head += " and on fewer replicas"
    else:
        head = f"{lead}, {margin:g} more than {versus}" + ("" if pct is None else f", +{pct:.1f} %")
    if best.runs < 2 or runner.runs < 2:
        spread, tail = UNKNOWN, "single run per config: spread unknown (sweep with --repeat 3 to know)"
    elif (best.low or 0) <= (runner.high or 0):
        spread = WITHIN
        tail = (
            f"within the run-to-run spread (ranges {best.range_text()} and {runner.range_text()} overlap): "
            "the sweep does not tell them apart"
        )
    else:
        spread, tail = LARGER, "a margin larger than the run-to-run spread"
    return Decision(best.id, runner.id, margin, pct, spread, f"{head}; {tail}.")


def build_sweep_report(inputs: SweepInputs) -> SweepReport:
    """Every configuration's figures and the decision."""
    configs = [_config(c, inputs) for c in inputs.configs]
    decision = decide(configs)
    notes = []
    recorded = inputs.info.best
    if recorded is not None and recorded != decision.best:
        notes.append(f"sweep.json names {recorded} best; this comparison finds {decision.best or 'none'}")
    unfinished = [c.id for c in configs if c.status != DONE]
    if unfinished and decision.best is not None:
        notes.append(
            f"{len(unfinished)} of {len(configs)} configurations did not finish ({', '.join(unfinished)}): "
            "the best is the best of the finished ones"
        )
    return SweepReport(inputs.info, decision, configs, notes)


def cpu_text(at: AtCapacity | None) -> str:
    """ "1.85 cores (93 % of 2)", or "not measured"."""
    if at is None or at.cpu_cores is None:
        return NOT_MEASURED
    share = "" if at.cpu_share is None else f" ({percent(at.cpu_share, 0)} of the host)"
    return f"{number(at.cpu_cores)} cores{share}"


def gpu_text(at: AtCapacity | None) -> str:
    """ "GPU 0: 45 %", one entry per GPU, or "not measured"."""
    if at is None or not at.gpu_util_pct:
        return NOT_MEASURED
    return ", ".join(f"GPU {g}: {v:.0f} %" for g, v in sorted(at.gpu_util_pct.items()))


def answer_table(sweep: SweepReport) -> Table:
    """The answer first: the best configuration, the runner-up, the margin and the spread."""
    d = sweep.decision
    by_id = {c.id: c for c in sweep.configs}
    best, runner = by_id.get(d.best or ""), by_id.get(d.runner_up or "")
    margin = DASH if d.margin is None else f"{d.margin:g} streams"
    if d.margin_pct is not None:
        margin += f" ({d.margin_pct:+.1f} %)"
    rows = [
        ["decision", d.sentence],
        ["best configuration", DASH if best is None else f"{best.id}: {best.settings}"],
        ["its capacity", DASH if best is None else _cap(best)],
        ["runner-up", DASH if runner is None else f"{runner.id}: {runner.settings}, {_cap(runner)}"],
        ["margin", margin],
        ["margin against the run-to-run spread", d.spread],
    ]
    return Table(["", ""], rows)


CONFIG_HEADERS = [
    "configuration",
    "settings",
    "workload",
    "status",
    "runs",
    "capacity",
    "range",
    "per replica",
    "per core",
    "per GPU",
    "p95 lag at capacity (s)",
    "WER at capacity",
    "goodput at capacity",
    "CPU at capacity",
    "GPU at capacity",
    "wall (s)",
]


def _config_cells(c: ConfigResult) -> list[str]:
    at = c.at_capacity
    workload = " ".join(f"{k} {v}" for k, v in c.workload.items()) or DASH
    return [
        c.id,
        c.settings,
        workload,
        c.status,
        str(c.runs) if c.runs else DASH,
        DASH if c.capacity is None else f"{c.capacity:g}",
        c.range_text(),
        number(c.per_replica),
        number(c.per_core),
        number(c.per_gpu),
        seconds(None if at is None else at.row.lag_p95),
        percent(None if at is None else at.row.wer),
        number(None if at is None else at.row.goodput),
        cpu_text(at),
        gpu_text(at),
        number(c.wall_s, 0),
    ]


COMPACT_CONFIG = (
    "configuration",
    "status",
    "capacity",
    "range",
    "per replica",
    "p95 lag at capacity (s)",
    "goodput at capacity",
)


def configs_table(sweep: SweepReport, columns: Sequence[str] = CONFIG_HEADERS) -> Table:
    """One row per configuration in matrix order; the per-GPU column only when the target has GPUs."""
    headers = [h for h in columns if sweep.info.gpus or h != "per GPU"]
    keep = [CONFIG_HEADERS.index(h) for h in headers]
    return Table(headers, [[cells[i] for i in keep] for cells in map(_config_cells, sweep.configs)])


def compact_configs_table(sweep: SweepReport) -> Table:
    """The configurations with the columns that fit a terminal."""
    return configs_table(sweep, COMPACT_CONFIG)


def sweep_table(sweep: SweepReport) -> Table:
    """What was swept, where and when."""
    info = sweep.info
    return Table(
        ["", ""],
        [
            ["directory", info.path],
            ["matrix", info.matrix_file or DASH],
            ["target", info.target or DASH],
            ["host CPUs", number(info.host_cpus, 0)],
            ["GPUs", ", ".join(info.gpus) or "none"],
            ["searches per configuration (--repeat)", str(info.repeat)],
            ["started / updated", f"{when(info.started_at)} / {when(info.updated_at)}"],
            ["wall time", DASH if info.wall_s is None else f"{info.wall_s:.0f} s"],
        ],
    )


def sweep_sections(sweep: SweepReport) -> list[Section]:
    """The answer, the configurations (with the capacity plot), the unfinished ones, the sweep."""
    notes = sweep.notes + [f"{c.id}: {n}" for c in sweep.configs for n in c.notes]
    out = [
        Section("Answer", [answer_table(sweep)], notes),
        Section("Configurations", [configs_table(sweep)], plots=["capacity"]),
    ]
    if sweep.unfinished:
        rows = [[c.id, c.status, c.error or DASH] for c in sweep.unfinished]
        out.append(
            Section(
                "Failed or unfinished configurations", [Table(["configuration", "status", "error"], rows)]
            )
        )
    out.append(Section("Sweep", [sweep_table(sweep)]))
    return out
