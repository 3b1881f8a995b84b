"""report.html: one self-contained page (inline CSS, plots as inline base64 PNG), verdict first. Pure."""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape

from loadgen.report.model.report import Report, soak_windows
from loadgen.report.model.sweep import SweepReport, sweep_sections
from loadgen.report.model.tables import Section, Table, sections
from loadgen.report.render import plots

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2327;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.5rem;margin:0 0 4px} h2{font-size:1.15rem;margin:28px 0 10px;border-bottom:1px solid #d0d5db;
padding-bottom:4px} h3{font-size:.95rem;margin:14px 0 6px;color:#455a64}
.sub{color:#5f6b76;font-size:.85rem;margin-bottom:16px}
.banner{border-radius:8px;padding:14px 18px;font-size:1.05rem;font-weight:600;margin:12px 0 4px}
.pass{background:#e3f4e5;border:1px solid #2e7d32;color:#1b5e20}
.fail{background:#fdecea;border:1px solid #c62828;color:#8e1b1b}
table{border-collapse:collapse;background:#fff;font-size:.82rem;margin:6px 0 10px}
th,td{border:1px solid #d9dee3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv td.num{text-align:left}
table.kv td:first-child{font-weight:600;background:#f8f9fb;white-space:nowrap}
.wide{overflow-x:auto}
.note{background:#fff8e1;border-left:4px solid #f9a825;padding:6px 10px;margin:6px 0;font-size:.85rem}
.plots{display:flex;flex-wrap:wrap;gap:12px}
.plots img{background:#fff;border:1px solid #d9dee3;border-radius:6px;max-width:100%;width:570px}
td.nw{white-space:nowrap} td.PASS{color:#1b5e20;font-weight:600} td.FAIL{color:#c62828;font-weight:600}
"""


def _plots(report: Report) -> dict[str, Callable[[], bytes | None]]:
    rows = report.rows or report.soak_rows
    by_time = not report.rows  # a soak: resources over time, not against clients
    windows = soak_windows(report.soak_rows, report.resources)
    return {
        "lag": lambda: plots.lag_plot(report.rows, report.run.slo_s, report.capacity.max_clients),
        "wer": lambda: plots.wer_plot(report.rows),
        "ratios": lambda: plots.ratios_plot(report.rows),
        "usl": lambda: plots.usl_plot(report.rows, report.usl, report.knees),
        "cpu": lambda: plots.cpu_plot(rows, report.resources, report.run.host_cpus, by_time),
        "gpu": lambda: plots.gpu_plot(rows, report.resources, by_time),
        "share": lambda: plots.share_plot(rows),
        "soak": lambda: plots.soak_plot(windows),
        "memory": lambda: plots.memory_plot(windows),
        "recovery": lambda: plots.recovery_plot(report.recovery) if report.recovery else None,
    }


def _is_number(text: str) -> bool:
    return text.replace(".", "", 1).replace("-", "", 1).replace(" %", "").isdigit()


SHORT = 28  # cells up to this long never wrap


def _cell(text: str) -> str:
    flags = ("num" if _is_number(text) else "", text if text in ("PASS", "FAIL") else "")
    classes = " ".join(c for c in (*flags, "nw" if len(text) <= SHORT else "") if c)
    return f'<td class="{classes}">{escape(text)}</td>' if classes else f"<td>{escape(text)}</td>"


def table_html(table: Table) -> str:
    """One HTML table; a key/value table has no header row."""
    title = f"<h3>{escape(table.title)}</h3>" if table.title else ""
    keyed = not any(table.headers)
    head = "" if keyed else "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.headers) + "</tr>"
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    return f'{title}<div class="wide"><table class="{"kv" if keyed else "grid"}">{head}{body}</table></div>'


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _section_html(section: Section, made: dict[str, Callable[[], bytes | None]]) -> str:
    parts = [f"<h2>{escape(section.title)}</h2>"]
    parts += [f'<div class="note">{escape(n)}</div>' for n in section.notes]
    parts += [table_html(t) for t in section.tables]
    images = [_image(png, name) for name in section.plots if (png := made[name]()) is not None]
    if images:
        parts.append(f'<div class="plots">{"".join(images)}</div>')
    return "\n".join(parts)


def render_html(report: Report) -> str:
    """The whole report as one HTML document with nothing loaded from elsewhere."""
    made = _plots(report)
    verdict = report.verdict
    banner = (
        f'<div class="banner {"pass" if verdict.passed else "fail"}">'
        f"{'PASS' if verdict.passed else 'FAIL'}: {escape(verdict.headline)}</div>"
    )
    body = "\n".join(_section_html(s, made) for s in sections(report))
    title = f"WhisperLive capacity report: {report.run.kind}"
    return _page(title, f"{report.run.path} · {report.run.status}", banner, body)


def _page(title: str, sub: str, banner: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body><main><h1>{escape(title)}</h1>"
        f'<div class="sub">{escape(sub)}</div>'
        f"{banner}\n{body}\n</main></body></html>\n"
    )


def render_sweep_html(sweep: SweepReport, capacity_png: bytes | None) -> str:
    """The sweep's comparison as one self-contained page, the decision first, the capacity plot inline."""
    found = sweep.decision.best is not None
    banner = f'<div class="banner {"pass" if found else "fail"}">{escape(sweep.decision.sentence)}</div>'
    made: dict[str, Callable[[], bytes | None]] = {"capacity": lambda: capacity_png}
    body = "\n".join(_section_html(s, made) for s in sweep_sections(sweep))
    return _page("WhisperLive sweep comparison", sweep.info.path, banner, body)
