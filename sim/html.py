"""A TwinReport as one self-contained HTML page (inline SVG, no scripts, no CDN): deployable
output against target with intervals, the time split of each cell type, WIP over time."""
from __future__ import annotations

from html import escape

from sim.observer import STATES
from sim.report import TwinReport
from sim.units import interval_numbers, power

COLOURS = {"busy": "#2e7d32", "setup": "#9ccc65", "blocked": "#f9a825", "starved": "#90a4ae", "idle": "#cfd8dc",
           "down": "#c62828", "off": "#6d4c41"}
_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
th:first-child,td:first-child{text-align:left}.ok{color:#2e7d32}.bad{color:#c62828}.note{color:#666;font-size:.9em}svg text{font:12px system-ui,sans-serif}"""


def render_html(report: TwinReport, limits=None, sensitivity=None) -> str:
    """`limits` (sim.limits.Limits) adds what the floor can make against what it is offered;
    `sensitivity` (sim.sensitivity.Sensitivity) adds the ranked table and tornado chart."""
    r = report
    verdict_ok = r.gw_per_week.ci_low >= r.target_gw
    verdict = ("meets" if verdict_ok else ("may miss" if r.gw_per_week.ci_high >= r.target_gw else "misses")) + " the target"
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Twin: {escape(r.spec_name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Digital twin: {escape(r.spec_name)}</h1>",
        f"<p class={'ok' if verdict_ok else 'bad'}><b>{power(r.gw_per_week.mean, r.target_gw)} deployable</b> "
        f"(95% CI {interval_numbers(r.gw_per_week.mean, r.gw_per_week.ci_low, r.gw_per_week.ci_high, r.target_gw).split(' ', 1)[1]}) "
        f"against {power(r.target_gw, r.target_gw)}: {verdict}. "
        f"P(week ≥ target) = {r.p_meets_target:.0%} of replications (normal approximation {r.p_meets_target_normal:.0%}). "
        f"Bottleneck: <b>{escape(str(r.bottleneck['type']))}</b> ({escape(r.bottleneck['method'])}).</p>",
        f"<p class=note>{r.replications} replications, {escape(r.mode)}, release {escape(r.release)}, seed {r.seed}; "
        f"{r.run_h:.0f} h simulated each, first {r.warmup_h:.1f} h deleted as warm-up ({escape(r.warmup_method)}); "
        f"offered {power(r.offered_gw_per_week, r.target_gw)}; analytic best case at the demand mix "
        f"{power(r.capacity_bound_gw_per_week, r.target_gw)}; {r.seconds_per_replication:.1f} s per replication.</p>",
    ]
    if limits is not None:
        parts += ["<h2>Capacity or demand?</h2>", "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in limits.sentences()) + "</ul>"]
    if sensitivity is not None:
        from sim.sensitivity_html import sensitivity_section

        parts += sensitivity_section(sensitivity)
    parts += [f"<p class=bad>⚠ {escape(w)}</p>" for w in r.warnings]
    parts += ["<h2>Output against target</h2>", _throughput_svg(r), _category_table(r)]
    parts += ["<h2>Where the time of each cell type goes</h2>", _stack_svg(r)]
    parts += ["<h2>Work in progress</h2>", _wip_svg(r), _flow_table(r)]
    if r.execution:
        parts += ["<h2>The plan: planned against delivered by its horizon</h2>", _execution(r.execution)]
    if r.schedule:
        parts += ["<h2>Executing the plan</h2>", _dict_table(r.schedule)]
    parts += ["<h2>Consistency</h2>", f"<p>Little's law: L = {r.littles_law['L']:.2f} units, λW = "
              f"{r.littles_law['lambda_per_h'] * r.littles_law['W_h']:.2f} (relative difference {r.littles_law['relative_error']:.2%}).</p>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def _throughput_svg(r: TwinReport) -> str:
    """Each category's MW over its target, and deployable GW over target, with 95% whiskers."""
    rows = [("deployable GW", r.gw_per_week.mean / r.target_gw, r.gw_per_week.ci_low / r.target_gw, r.gw_per_week.ci_high / r.target_gw)]
    for cat, iv in r.mw_by_category.items():
        need = r.target_mw[cat]
        rows.append((f"{cat} MW", iv.mean / need, iv.ci_low / need, iv.ci_high / need))
    hi = max(1.2, max(row[3] for row in rows) * 1.05)
    width, left, row_h = 760, 130, 30
    x = lambda v: left + (width - left - 190) * max(0.0, v) / hi  # noqa: E731 (room on the right for the labels)
    svg = [f'<svg width="{width}" height="{row_h * len(rows) + 40}" role="img" aria-label="output against target">',
           '<text x="0" y="12" fill="#666">each bar: delivered / target, with its 95% interval</text>']
    for i, (label, mean, lo, high) in enumerate(rows):
        y = 20 + i * row_h
        svg.append(f'<text x="0" y="{y + 14}">{escape(label)}</text>')
        svg.append(f'<rect x="{left}" y="{y + 4}" width="{x(mean) - left:.1f}" height="14" fill="{"#2e7d32" if lo >= 1 else "#ef6c00"}"/>')
        svg.append(f'<line x1="{x(lo):.1f}" x2="{x(high):.1f}" y1="{y + 11}" y2="{y + 11}" stroke="#000" stroke-width="2"/>')
        svg.append(f'<text x="{x(high) + 6:.1f}" y="{y + 15}">{mean:.3f} [{lo:.3f}, {high:.3f}]</text>')
    svg.append(f'<line x1="{x(1):.1f}" x2="{x(1):.1f}" y1="10" y2="{row_h * len(rows) + 25}" stroke="#c62828" stroke-dasharray="4 3"/>')
    svg.append(f'<text x="{x(1) + 4:.1f}" y="{row_h * len(rows) + 36}" fill="#c62828">target = 1.0</text></svg>')
    return "".join(svg)


def _stack_svg(r: TwinReport) -> str:
    names = list(r.time_shares)
    width, left, row_h = 760, 130, 22
    span = width - left - 20
    svg = [f'<svg width="{width}" height="{row_h * len(names) + 50}" role="img" aria-label="time shares per cell type">']
    for i, name in enumerate(names):
        y = 10 + i * row_h
        mark = " ◀" if name == r.bottleneck["type"] else ""
        svg.append(f'<text x="0" y="{y + 14}">{escape(name)}{mark}</text>')
        x = float(left)
        for state in STATES:
            w = span * r.time_shares[name][state]
            if w > 0.05:
                svg.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="16" fill="{COLOURS[state]}">'
                           f'<title>{escape(name)} {state}: {r.time_shares[name][state]:.1%}</title></rect>')
            x += w
    y = 20 + len(names) * row_h
    for k, state in enumerate(STATES):
        svg.append(f'<rect x="{left + k * 90}" y="{y}" width="12" height="12" fill="{COLOURS[state]}"/>'
                   f'<text x="{left + k * 90 + 16}" y="{y + 11}">{state}</text>')
    svg.append("</svg>")
    return "".join(svg)


def _wip_svg(r: TwinReport) -> str:
    points = r.wip_series
    if not points:
        return ""
    width, height, left, bottom = 760, 220, 50, 30
    t_max = max(p[0] for p in points) or 1.0
    w_max = max(p[1] for p in points) or 1.0
    x = lambda t: left + (width - left - 10) * t / t_max  # noqa: E731
    y = lambda w: height - bottom - (height - bottom - 10) * w / w_max  # noqa: E731
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(w):.1f}" for i, (t, w) in enumerate(points))
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="WIP over time">'
            f'<rect x="{left}" y="10" width="{x(r.warmup_h) - left:.1f}" height="{height - bottom - 10}" fill="#eceff1"/>'
            f'<text x="{left + 4}" y="24" fill="#666">warm-up</text>'
            f'<path d="{path}" fill="none" stroke="#1565c0" stroke-width="1.5"/>'
            f'<line x1="{left}" x2="{width - 10}" y1="{height - bottom}" y2="{height - bottom}" stroke="#999"/>'
            f'<text x="{left}" y="{height - 8}">0 h</text><text x="{width - 60}" y="{height - 8}">{t_max:.0f} h</text>'
            f'<text x="0" y="{y(w_max) + 4:.1f}">{w_max:.0f}</text><text x="0" y="{height - bottom}">0</text>'
            f'<text x="{left + 80}" y="24" fill="#1565c0">units on the floor (mean of replications)</text></svg>')


def _category_table(r: TwinReport) -> str:
    rows = "".join(f"<tr><td>{escape(c)}</td><td>{iv.mean:.1f}</td><td>{iv.ci_low:.1f}–{iv.ci_high:.1f}</td><td>{r.target_mw[c]:.1f}</td></tr>"
                   for c, iv in r.mw_by_category.items())
    return f"<table><tr><th>category</th><th>MW/week</th><th>95% CI</th><th>target</th></tr>{rows}</table>"


def _flow_table(r: TwinReport) -> str:
    rows = "".join(f"<tr><td>{escape(p)}</td><td>{r.units_per_hour[p].mean * 168:.0f}</td><td>{r.cycle_time_h[p].mean:.2f}</td></tr>"
                   for p in r.units_per_hour)
    queues = "".join(f"<tr><td>{escape(t)}</td><td>{q['lq'].mean:.2f}</td><td>{q['wq_h'].mean:.3f}</td>"
                     f"<td>{r.bottleneck['utilisation_of_available_time'].get(t, 0):.1%}</td></tr>" for t, q in r.queues.items())
    return (f"<p>Mean WIP {r.wip.mean:.1f} units (95% CI {r.wip.ci_low:.1f}–{r.wip.ci_high:.1f}).</p>"
            f"<table><tr><th>product</th><th>units/week</th><th>cycle time h</th></tr>{rows}</table><br>"
            f"<table><tr><th>cell type</th><th>queue (units)</th><th>wait h</th><th>utilisation of available time</th></tr>{queues}</table>")


def _execution(x: dict) -> str:
    d = x["delivered_gw_per_week"]
    rows = "".join(f"<tr><td>{escape(c)}</td><td>{mw:.2f}</td><td>{x['delivered_mw_by_category'][c]:.2f}</td>"
                   f"<td>{x['delivered_mw_by_category_ci'][c]['ci_low']:.2f}–{x['delivered_mw_by_category_ci'][c]['ci_high']:.2f}</td></tr>"
                   for c, mw in x["planned_mw_by_category"].items())
    head = (f"<p>Control <b>{escape(x['control'])}</b>, horizon {x['horizon_h']:g} h: delivered {x['delivered_over_planned']['mean']:.1%} "
            f"of the planned MW; {d['mean']:.4f} GW/week deployable (95% CI {d['ci_low']:.4f}–{d['ci_high']:.4f}) against "
            f"{x['planned_gw_per_week']:.4f} planned (horizon: {x['delivered_gw_horizon']['mean']:.5f} of {x['planned_gw_horizon']:.5f} GW).</p>")
    table = f"<table><tr><th>category</th><th>planned MW</th><th>delivered MW</th><th>95% CI</th></tr>{rows}</table>"
    rest = {k: v for k, v in x.items() if k not in ("planned_mw_by_category", "delivered_mw_by_category", "delivered_mw_by_category_ci")}
    return head + table + "<br>" + _dict_table(rest)


def _dict_table(values: dict) -> str:
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(_fmt(v))}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)
