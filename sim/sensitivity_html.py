"""The sensitivity section of the twin's HTML report: a ranked table and a tornado chart (inline
SVG; every label escaped: cell types and products are names from a spec file)."""
from __future__ import annotations

from html import escape

from sim.sensitivity import Sensitivity
from sim.units import unit_of

_DOWN, _UP = "#b45309", "#1d4ed8"  # input lowered / raised: distinct from the state colours


def sensitivity_section(s: Sensitivity, top: int = 20) -> list[str]:
    ranked = s.ranked()[:top]
    scale = 1.0 if s.target_gw >= 1 else 1000.0
    unit = unit_of(s.target_gw)
    what = "what the floor can make (offered more than it can take)" if s.offered == "capacity" else "output at the spec's release"
    parts = [f"<h2>Sensitivity: {unit}/week change for ±{s.change:.0%} in each input</h2>",
             f"<p class=note>Base: {s.base.mean * scale:,.4g} {unit}/week ({what}); {s.replications} replications per variant, "
             "common random numbers, paired 95% intervals. A yield's change is of its failure share (1 − yield); cell counts "
             "move by whole cells (the actual change is shown).</p>", _tornado(ranked, scale, unit, s.change)]
    if s.offered == "capacity":
        parts.append("<p class=note>The runs below offer the floor more than it can take, so its output is its capacity; "
                     "queues and WIP grow by design (a Little's-law warning is expected).</p>")
    rows = "".join(
        f"<tr><td>{i + 1}</td><td style=text-align:left>{escape(e.input.label)}</td>"
        f"<td>{e.low_change:+.0%}: {e.low.mean * scale:+,.3f} [{e.low.ci_low * scale:+,.3f}, {e.low.ci_high * scale:+,.3f}]</td>"
        f"<td>{e.high_change:+.0%}: {e.high.mean * scale:+,.3f} [{e.high.ci_low * scale:+,.3f}, {e.high.ci_high * scale:+,.3f}]</td></tr>"
        for i, e in enumerate(ranked))
    parts.append(f"<table><tr><th>rank</th><th style=text-align:left>input</th><th>lowered: {unit}/week change [95% CI]</th>"
                 f"<th>raised: {unit}/week change [95% CI]</th></tr>{rows}</table>")
    return parts


def _tornado(ranked, scale: float, unit: str, change: float) -> str:
    if not ranked:
        return ""
    width, left, row_h = 760, 260, 20
    span = max(max(abs(e.low.mean), abs(e.high.mean), abs(e.low.ci_low), abs(e.high.ci_high)) for e in ranked) or 1.0
    mid = left + (width - left - 20) / 2
    half = (width - left - 20) / 2
    x = lambda v: mid + half * v / span  # noqa: E731
    svg = [f'<svg width="{width}" height="{row_h * len(ranked) + 70}" role="img" aria-label="tornado chart">']
    for i, e in enumerate(ranked):
        y = 10 + i * row_h
        svg.append(f'<text x="0" y="{y + 13}">{escape(e.input.label)}</text>')
        for iv, colour, label in ((e.low, _DOWN, f"{e.low_change:+.0%}"), (e.high, _UP, f"{e.high_change:+.0%}")):
            a, b = sorted((mid, x(iv.mean)))
            svg.append(f'<rect x="{a:.1f}" y="{y + 2}" width="{max(b - a, 0.5):.1f}" height="14" fill="{colour}" opacity="0.85">'
                       f'<title>{escape(e.input.label)} {label}: {iv.mean * scale:+.4g} {unit}/week</title></rect>')
            svg.append(f'<line x1="{x(iv.ci_low):.1f}" x2="{x(iv.ci_high):.1f}" y1="{y + 9}" y2="{y + 9}" stroke="#111"/>')
    y = 20 + len(ranked) * row_h
    svg.append(f'<line x1="{mid:.1f}" x2="{mid:.1f}" y1="5" y2="{y - 8}" stroke="#444"/>')
    svg.append(f'<text x="{left}" y="{y + 12}">{-span * scale:+.3g} {unit}/week</text>'
               f'<text x="{width - 110}" y="{y + 12}">{span * scale:+.3g} {unit}/week</text>')
    y += 22
    svg.append(f'<rect x="{mid - 150:.1f}" y="{y + 2}" width="12" height="12" fill="{_DOWN}"/><text x="{mid - 134:.1f}" y="{y + 12}">input lowered</text>'
               f'<rect x="{mid + 20:.1f}" y="{y + 2}" width="12" height="12" fill="{_UP}"/><text x="{mid + 36:.1f}" y="{y + 12}">input raised</text>')
    svg.append("</svg>")
    return "".join(svg)
