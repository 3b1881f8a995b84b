"""Rendering: the Markdown leads with the verdict table; the HTML is one self-contained page."""

from __future__ import annotations

import base64
import re

from loadgen.report.model.report import RunInputs, build_report
from loadgen.report.model.usage import GpuUsage, ReplicaUsage, StepResources
from loadgen.report.render.html import render_html
from loadgen.report.render.markdown import render_md
from tests.run_dirs import T0, System, manifest, ramp_steps, records, session, step

CLIENTS = [1, 2, 4, 6, 8, 10, 12]
PNG = b"\x89PNG\r\n\x1a\n"


def ramp_report(**extra):
    steps = ramp_steps(System(knee=8), CLIENTS)
    return build_report(RunInputs("runs/ramp", manifest(), records(steps), [], [], **extra))


def test_markdown_starts_with_the_verdict_table():
    md = render_md(ramp_report())
    assert md.index("## Verdict") < md.index("## Steps") < md.index("## Run")
    assert "| verdict | PASS: max concurrent connections = 8" in md
    assert "| max concurrent connections | 8 |" in md
    assert "| first failing step | 10 clients |" in md
    assert (
        "| USL fit | on goodput: no peak within the measured steps (up to 12 clients); "
        "the fit's N* = 15.4 clients is an extrapolation, not a measurement;" in md
    )
    assert "| knees (Kneedle) | lag p95: 8 clients" in md
    steps = [line for line in md.splitlines() if re.match(r"\| \d+ \| \d+ \| explicit \|", line)]
    assert len(steps) == len(CLIENTS) and "| FAIL |" in steps[-1]


def test_markdown_escapes_pipes_in_cells():
    report = build_report(RunInputs("runs/a|b", manifest(), records(ramp_steps(System(), [1, 2])), [], []))
    assert "runs/a\\|b" in render_md(report)


def images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def assert_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "<link" not in html and "<script" not in html and "@import" not in html and "url(" not in html


def test_html_is_self_contained_with_inline_png_plots():
    html = render_html(ramp_report())
    assert_self_contained(html)
    pngs = images(html)
    assert len(pngs) == 5  # lag, WER, outcomes, USL, session share
    assert all(p.startswith(PNG) for p in pngs)
    assert html.index("PASS: max concurrent connections = 8") < html.index("<h2>Steps</h2>")


def test_html_shows_resources_and_recovery_when_there_are_some():
    resources = {
        i: StepResources(
            replicas={f"whisperlive-{r}": ReplicaUsage(cpu_cores=0.1 * n, memory_bytes=4e8) for r in (1, 2)},
            gpus={"0": GpuUsage(util_pct=10.0 * n, fb_used_mib=900, fb_total_mib=16000)},
        )
        for i, n in enumerate(CLIENTS)
    }
    kill = {"at": T0 + 50, "kind": "chaos", "action": "kill", "target": "whisperlive-2", "step": 2}
    sessions = [
        session(0, 0, "a", T0),
        session(
            1, 0, "b", T0 + 60, replicas=["b", "a"], reconnects=1, reconnect_s=[1.0], outcome="recovered"
        ),
    ]
    steps = ramp_steps(System(knee=8), CLIENTS)
    report = build_report(RunInputs("runs/r", manifest(), records(steps), sessions, [kill], resources))
    html = render_html(report)
    assert_self_contained(html)
    assert "<h2>Resources per step</h2>" in html and "<h2>Failures and recovery</h2>" in html
    assert "whisperlive-1" in html and "kill" in html
    assert len(images(html)) == 5 + 2 + 1  # + CPU, GPU; + recovery shares


def test_soak_html_has_windows_and_drift():
    steps = [step(i, 8, 0.4 + 0.02 * i, 6.0, phase="soak", started_at=T0 + 300 * i) for i in range(6)]
    report = build_report(RunInputs("runs/s", manifest(kind="soak"), records(steps), [], []))
    html = render_html(report)
    assert "<h2>Soak and drift</h2>" in html and "transcript lag p95" in html
    assert "<h2>Steps</h2>" not in html
    assert len(images(html)) >= 2  # lag/WER over time, session share
