"""A self-contained HTML report: inline SVG plots and tables, no external assets.

It must open from a CI artifact or an email attachment offline, so the plots
are drawn here as SVG rather than with a charting library or a CDN script.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td.l,th.l{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0}figcaption{font-size:13px;color:#555}
code{font-size:12px}
"""


def histogram_svg(
    values: Sequence[float],
    *,
    bins: int = 10,
    low: float | None = None,
    high: float | None = None,
    width: int = 320,
    height: int = 160,
) -> str:
    """An SVG bar histogram of ``values`` over [low, high] (their range when not given)."""
    if not values:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            '<text x="10" y="20" font-size="12">no data</text></svg>'
        )
    lo = min(values) if low is None else low
    hi = max(values) if high is None else high
    if hi <= lo:
        hi = lo + 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))] += 1
    top = max(counts)
    pad, axis = 24, 18
    bar_w = (width - pad * 2) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    for i, count in enumerate(counts):
        h = (height - pad - axis) * count / top
        x = pad + i * bar_w
        y = height - axis - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
            f'fill="#4a7bd0"><title>{lo + i * (hi - lo) / bins:.3g}–'
            f"{lo + (i + 1) * (hi - lo) / bins:.3g}: {count}</title></rect>"
        )
        if count:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 2:.1f}" font-size="10" '
                f'text-anchor="middle">{count}</text>'
            )
    base = height - axis
    parts.append(f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#333"/>')
    parts.append(f'<text x="{pad}" y="{height - 4}" font-size="10">{lo:.3g}</text>')
    parts.append(
        f'<text x="{width - pad}" y="{height - 4}" font-size="10" text-anchor="end">{hi:.3g}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _figure(title: str, svg: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(title)}</figcaption></figure>"


def render_html(report: Mapping[str, Any]) -> str:
    agg = report["aggregate"]
    items: list[dict[str, Any]] = report["items"]
    ok = [r for r in items if not r.get("error")]
    answerable = [r for r in ok if not r["unanswerable"]]
    plots = [
        _figure("latency (ms), every item", histogram_svg([r["latency_ms"] for r in ok])),
    ]
    for name in ("token_f1", "semantic_similarity", "faithfulness", "context_recall"):
        values = [r[name] for r in answerable if r.get(name) is not None]
        plots.append(_figure(f"{name}, answerable items", histogram_svg(values, low=0, high=1)))
    summary = "".join(
        f"<tr><th class=l>{html.escape(k)}</th><td>{_cell(v)}</td></tr>"
        for k, v in agg.items()
        if k != "route_split"
    )
    routes = html.escape(json.dumps(agg["route_split"]))
    summary += f"<tr><th class=l>route_split</th><td>{routes}</td></tr>"
    tag_cols = (
        "items",
        "contains_answer",
        "token_f1",
        "semantic_similarity",
        "faithfulness",
        "context_recall",
        "refusal_correct",
        "latency_ms_p50",
    )
    tag_rows = "".join(
        "<tr><td class=l>"
        + html.escape(tag)
        + "</td>"
        + "".join(f"<td>{_cell(a.get(c))}</td>" for c in tag_cols)
        + "</tr>"
        for tag, a in report["by_tag"].items()
    )
    failures = [
        r
        for r in items
        if r.get("error")
        or (r["unanswerable"] and not r["refused"])
        or (not r["unanswerable"] and not r.get("contains_answer"))
    ]
    fail_rows = "".join(
        "<tr>"
        f"<td class=l>{html.escape(r['id'])}</td>"
        f"<td class=l>{html.escape(r['question'])}</td>"
        f"<td class=l>{html.escape(r['expected_answer'] or '(unanswerable)')}</td>"
        f"<td class=l>{html.escape(r.get('error') or r['answer'])}</td>"
        f"<td>{_cell(r.get('token_f1'))}</td>"
        f"<td class=l><code>{html.escape(str(r.get('thread_id')))}</code><br>"
        f"<code>{html.escape(str(r.get('run_id')))}</code><br>"
        f"<code>{html.escape(str(r.get('trace_id')))}</code></td>"
        "</tr>"
        for r in failures
    )
    config = html.escape(json.dumps(report["config"], sort_keys=True))
    dataset = report["dataset"]
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>interlock eval report</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>interlock eval report</h1>"
        f"<p>dataset <code>{html.escape(str(dataset.get('path')))}</code> "
        f"(sha256 <code>{html.escape(str(dataset.get('sha256'))[:16])}…</code>, "
        f"{len(items)} items), started {html.escape(str(report['started_at']))}, "
        f"{report['seconds']} s</p><p>config <code>{config}</code></p>"
        f"<h2>Aggregates</h2><table>{summary}</table>"
        f"<h2>Distributions</h2><div class=plots>{''.join(plots)}</div>"
        "<h2>Per tag</h2><table><tr><th class=l>tag</th>"
        + "".join(f"<th>{c}</th>" for c in tag_cols)
        + f"</tr>{tag_rows}</table>"
        f"<h2>Failures ({len(failures)})</h2>"
        "<p>Answerable items whose answer does not contain the expected answer, unanswerable "
        "items that were answered, and errors. Thread id (the Langfuse session id when "
        "tracing), run id, then trace id: <code>interlock traces TRACE_ID</code> shows the "
        "run's steps, and Langfuse has the trace under that id when configured.</p>"
        "<table><tr><th class=l>id</th><th class=l>question</th><th class=l>expected</th>"
        "<th class=l>answer</th><th>F1</th><th class=l>thread / run / trace</th></tr>"
        f"{fail_rows}</table></body></html>\n"
    )
