"""Grafana dashboards as code (grafana-foundation-sdk), rendered to `grafana/dashboards/*.json`.

Panels query raw series with `$__rate_interval`, so they follow the zoom; the recording rules in
`prometheus/rules/` serve alerts, which need fixed windows. Every panel has a unit and a description.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common, dashboard, prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphTresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")  # grafana/provisioning/datasources
SLO_SECONDS = 0.5  # the p95 transcript lag SLO of prometheus/rules/recording.yml
DASHBOARD_DIR = Path("grafana/dashboards")
REF_IDS = "ABCDEFGH"


def _quantile(q: float, metric: str, by: str = "") -> str:
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[$__rate_interval])))"


@dataclass(frozen=True)
class RightAxis:
    """Queries drawn against a second y axis on the right, with their own unit (no threshold line)."""

    unit: str
    label: str
    queries: tuple[tuple[str, str], ...]
    left_label: str  # the left axis' label, now that there are two

    def properties(self) -> list[DynamicConfigValue]:
        """The field overrides that move a query's series to this axis."""
        return [
            DynamicConfigValue(id_val="unit", value=self.unit),
            DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
            DynamicConfigValue(id_val="custom.axisLabel", value=self.label),
            DynamicConfigValue(id_val="custom.thresholdsStyle", value={"mode": "off"}),
        ]


@dataclass(frozen=True)
class PanelSpec:
    """One time-series panel: title, unit, description and its (expr, legend) queries; optionally more
    queries on a right axis, so that different quantities share one time axis."""

    title: str
    unit: str
    description: str
    queries: tuple[tuple[str, str], ...]
    slo_line: bool = False
    right: RightAxis | None = None
    wide: bool = False

    def build(self) -> timeseries.Panel:
        """The SDK panel."""
        panel = (
            timeseries.Panel()
            .title(self.title)
            .unit(self.unit)
            .description(self.description)
            .datasource(DATASOURCE)
            .height(10 if self.wide else 8)
            .span(24 if self.wide else 12)
        )
        right = self.right.queries if self.right else ()
        for ref, (expr, legend) in zip(REF_IDS, self.queries + right, strict=False):
            panel = panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref))
        if self.right:
            panel = panel.axis_label(self.right.left_label)
            for ref in REF_IDS[len(self.queries) : len(self.queries) + len(right)]:
                panel = panel.override_by_query(ref, self.right.properties())
        if self.slo_line:
            steps = [Threshold(color="green", value=None), Threshold(color="red", value=SLO_SECONDS)]
            panel = panel.thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
            line = common.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.LINE)
            panel = panel.thresholds_style(line)
        return panel


LAG = "loadgen_transcript_lag_seconds"
STEP_ANNOTATION = "sum(changes(loadgen_step[$__rate_interval])) > 0"  # a ramp moved to its next step
SESSIONS = "sum(rate(loadgen_sessions_total[$__rate_interval]))"
# Every GPU is `gpu="0"` with one replica per node: the host keeps them apart. `Hostname` is set by both
# our exporter and dcgm-exporter, `node` by the k8s gpu-exporter PodMonitor (absent elsewhere: empty).
GPU_KEYS = "node, Hostname, gpu"
GPU_LEGEND = "{{node}} {{Hostname}} GPU {{gpu}}"


def _outcome_share(selector: str) -> str:
    return f"sum(rate(loadgen_sessions_total{{{selector}}}[$__rate_interval])) / {SESSIONS}"


CAPACITY = (
    PanelSpec(
        "Transcript lag vs clients and throughput",
        "s",
        "The capacity knee on one time axis. Left: p50/p95/p99 transcript lag (seconds after the audio "
        "existed) and the SLO line. Right: clients the generators aim for and have streaming, and audio "
        "seconds streamed and transcribed per second (real-time streams carried). The knee is the step "
        "after which p95 leaves the SLO line and transcribed falls behind streamed.",
        (
            (_quantile(0.5, LAG), "p50 lag"),
            (_quantile(0.95, LAG), "p95 lag"),
            (_quantile(0.99, LAG), "p99 lag"),
        ),
        slo_line=True,
        right=RightAxis(
            "short",
            "clients, streams",
            (
                ("sum(max_over_time(loadgen_target_clients[$__rate_interval]))", "target clients"),
                ("sum(max_over_time(loadgen_active_clients[$__rate_interval]))", "active clients"),
                ("sum(rate(loadgen_audio_sent_seconds_total[$__rate_interval]))", "streamed audio s/s"),
                (
                    "sum(rate(loadgen_transcribed_audio_seconds_total[$__rate_interval]))",
                    "transcribed audio s/s",
                ),
            ),
            left_label="transcript lag",
        ),
        wide=True,
    ),
    PanelSpec(
        "Finalization lag",
        "s",
        "p50/p95 of receive time minus the live time of each newly completed segment's end.",
        (
            (_quantile(0.5, "loadgen_finalization_lag_seconds"), "p50"),
            (_quantile(0.95, "loadgen_finalization_lag_seconds"), "p95"),
        ),
    ),
    PanelSpec(
        "Word error rate",
        "percentunit",
        "Word errors over reference words of finished sessions (whisper-normalizer + jiwer).",
        (
            (
                "sum(rate(loadgen_word_errors_total[$__rate_interval])) / "
                "sum(rate(loadgen_reference_words_total[$__rate_interval]))",
                "WER",
            ),
        ),
    ),
    PanelSpec(
        "Speech untranscribed and words deleted",
        "short",
        "Left: seconds of speech per second that no transcript segment covered, by cause (in_flight: sent "
        "to a connection that dropped before answering; gap: never sent while reconnecting; skipped: the "
        "server passed over it), counted when sessions end. Right: word errors per second by kind: "
        "deletions rising with untranscribed speech are lost audio, substitutions are misrecognition.",
        (
            (
                "sum by (cause) (rate(loadgen_audio_untranscribed_seconds_total[$__rate_interval]))",
                "untranscribed {{cause}} s/s",
            ),
        ),
        right=RightAxis(
            "short",
            "word errors/s",
            (("sum by (kind) (rate(loadgen_word_errors_total[$__rate_interval]))", "{{kind}}/s"),),
            left_label="speech s/s",
        ),
    ),
    PanelSpec(
        "Session outcomes",
        "percentunit",
        "Share of finished sessions that were ok, failed or dropped, and refused (WAIT).",
        (
            (_outcome_share('outcome="ok"'), "success"),
            (_outcome_share('outcome=~"error|dropped"'), "error"),
            (_outcome_share('outcome="refused"'), "refused"),
        ),
    ),
    PanelSpec(
        "Load generator send slip p99",
        "s",
        "How late audio sends start against the live clock. Above 50 ms the generator is saturated and its "
        "numbers are not trustworthy.",
        ((_quantile(0.99, "loadgen_send_slip_seconds"), "p99"),),
    ),
)

REPLICAS = (
    PanelSpec(
        "CPU per replica",
        "percentunit",
        "CPU cores used by each WhisperLive replica (cAdvisor names: Docker in Compose, processes locally).",
        (
            (
                'sum by (name) (rate(container_cpu_usage_seconds_total{compose_service="whisperlive"}'
                "[$__rate_interval]))",
                "{{name}}",
            ),
        ),
    ),
    PanelSpec(
        "Memory per replica",
        "bytes",
        "Working set of each replica.",
        (
            (
                "sum by (name) (avg_over_time(container_memory_working_set_bytes"
                '{compose_service="whisperlive"}[$__rate_interval]))',
                "{{name}}",
            ),
        ),
    ),
    PanelSpec(
        "Sessions per replica (balancer distribution)",
        "reqps",
        "Sessions finished per second by serving replica (from the X-Upstream header).",
        (('sum by (replica) (rate(loadgen_sessions_total{replica!=""}[$__rate_interval]))', "{{replica}}"),),
    ),
    PanelSpec(
        "Audio share per replica",
        "percentunit",
        "Share of the streamed audio each replica served.",
        (
            (
                'sum by (replica) (rate(loadgen_audio_sent_seconds_total{replica!=""}[$__rate_interval])) / '
                'ignoring (replica) group_left sum(rate(loadgen_audio_sent_seconds_total{replica!=""}'
                "[$__rate_interval]))",
                "{{replica}}",
            ),
        ),
    ),
    PanelSpec(
        "Transcript lag p95 per replica",
        "s",
        "p95 transcript lag by serving replica: one hot replica shows here first.",
        ((_quantile(0.95, LAG, by="replica"), "{{replica}}"),),
        slo_line=True,
    ),
    PanelSpec(
        "WhisperLive inference latency",
        "s",
        "p50/p95 of WhisperLive's own whisperlive_transcription_latency_seconds (one model call).",
        (
            (_quantile(0.5, "whisperlive_transcription_latency_seconds"), "p50"),
            (_quantile(0.95, "whisperlive_transcription_latency_seconds"), "p95"),
        ),
    ),
    PanelSpec(
        "GPU utilisation",
        "percent",
        "DCGM_FI_DEV_GPU_UTIL per GPU of each host (our exporter or dcgm-exporter).",
        ((f"avg by ({GPU_KEYS}) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[$__rate_interval]))", GPU_LEGEND),),
    ),
    PanelSpec(
        "GPU memory used",
        "decmbytes",
        "DCGM_FI_DEV_FB_USED per GPU of each host, in MiB as DCGM reports it.",
        ((f"max by ({GPU_KEYS}) (max_over_time(DCGM_FI_DEV_FB_USED[$__rate_interval]))", GPU_LEGEND),),
    ),
    PanelSpec(
        "Nginx connections",
        "short",
        "Active connections at the balancer and connections accepted per second.",
        (
            ("sum(max_over_time(nginx_connections_active[$__rate_interval]))", "active"),
            ("sum(rate(nginx_connections_accepted[$__rate_interval]))", "accepted/s"),
        ),
    ),
)


def _dashboard(uid: str, title: str, description: str, panels: tuple[PanelSpec, ...]) -> dashboard.Dashboard:
    steps = (
        dashboard.AnnotationQuery()
        .name("Load steps")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("orange")
        .expr(STEP_ANNOTATION)
    )
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["whisperlive", "capacity"])
        .refresh("10s")
        .time("now-30m", "now")
        .annotation(steps)
    )
    for spec in panels:
        board = board.with_panel(spec.build())
    return board


def dashboards() -> dict[Path, str]:
    """Every dashboard's JSON by its path (relative to the repository root)."""
    boards = {
        "capacity": _dashboard(
            "wl-capacity", "WhisperLive capacity", "Clients, lag, WER and outcomes on one axis.", CAPACITY
        ),
        "replicas": _dashboard(
            "wl-replicas", "WhisperLive replicas", "Per-replica resources and the balancer spread.", REPLICAS
        ),
    }
    return {DASHBOARD_DIR / f"{name}.json": _to_json(board) for name, board in boards.items()}


def _to_json(board: dashboard.Dashboard) -> str:
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def panel_queries(board_json: str) -> list[tuple[str, str, str]]:
    """(panel title, legend, expr) of every query of a rendered dashboard."""
    board = json.loads(board_json)
    return [(p["title"], t["legendFormat"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


def annotation_queries(board_json: str) -> list[tuple[str, str, str]]:
    """(annotation name, "annotation", expr) of every annotation of a rendered dashboard."""
    return [(a["name"], "annotation", a["expr"]) for a in json.loads(board_json)["annotations"]["list"]]
