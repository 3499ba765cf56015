"""TwinReport: what the replications say, after the warm-up is deleted: deployable GW/week and
MW per category with 95% intervals, cell-type time shares, WIP, cycle and queue times, the
bottleneck, the chance of meeting the target, plan lateness, and Little's-law consistency."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from plant.demand import WEEK_S
from plant.spec import FactorySpec, deployable_gw
from sim.layout import Layout
from sim.observer import BUSY, DOWN, OFF, SETUP, STATES, Trace
from sim.statistics import Interval, momentary_bottleneck, mser_warmup, t_interval, welch_warmup


@dataclass
class TwinReport:
    spec_name: str
    mode: str  # "policy:fifo" | "schedule"
    release: str
    replications: int
    seed: int
    run_h: float
    warmup_h: float
    warmup_method: str
    measured_h: float
    target_gw: float
    gw_per_week: Interval
    gw_per_replication: list[float]
    offered_gw_per_week: float
    capacity_bound_gw_per_week: float  # analytic best case at the demand mix: no run may beat it
    mw_by_category: dict[str, Interval]
    target_mw: dict[str, float]
    units_per_hour: dict[str, Interval]
    units_per_hour_by_replication: dict[str, list[float]]
    cycle_time_h: dict[str, Interval]
    p_meets_target: float
    p_meets_target_normal: float
    time_shares: dict[str, dict[str, float]]  # cell type -> state -> share of slot time
    time_share_ci: dict[str, dict[str, Interval]]  # the same with its interval across replications
    slots: dict[str, int]
    bottleneck: dict[str, Any]
    wip: Interval
    wip_series: list[tuple[float, float]]  # (hour, mean WIP across replications)
    queues: dict[str, dict[str, Interval]]  # cell type -> lq, wq_h, starts_per_h
    littles_law: dict[str, float]
    schedule: dict[str, Any] | None
    seconds_per_replication: float
    cpu_seconds_per_replication: float
    warnings: list[str] = field(default_factory=list)
    execution: dict[str, Any] | None = None  # executing a plan: planned vs delivered by its horizon (sim.execution)

    def to_dict(self) -> dict[str, Any]:
        def iv(x: Interval, d: int = 6) -> dict:
            return x.to_dict(d)

        return _json_safe({
            "spec": self.spec_name,
            "mode": self.mode,
            "release": self.release,
            "replications": self.replications,
            "seed": self.seed,
            "run_h": round(self.run_h, 3),
            "warmup_h": round(self.warmup_h, 3),
            "warmup_method": self.warmup_method,
            "measured_h": round(self.measured_h, 3),
            "target_gw": self.target_gw,
            "gw_per_week": iv(self.gw_per_week),
            "gw_per_replication": [round(g, 6) for g in self.gw_per_replication],
            "offered_gw_per_week": round(self.offered_gw_per_week, 6),
            "capacity_bound_gw_per_week": round(self.capacity_bound_gw_per_week, 6),
            "mw_by_category": {c: {**iv(v, 3), "target": self.target_mw.get(c)} for c, v in self.mw_by_category.items()},
            "units_per_hour": {p: iv(v) for p, v in self.units_per_hour.items()},
            "cycle_time_h": {p: iv(v, 4) for p, v in self.cycle_time_h.items()},
            "p_meets_target": round(self.p_meets_target, 4),
            "p_meets_target_method": "share of replications whose deployable GW/week >= target",
            "p_meets_target_normal": round(self.p_meets_target_normal, 4),
            "p_meets_target_normal_method": "P(one replication >= target) under a normal fit of the replications",
            "bottleneck": self.bottleneck,
            "time_shares": {t: {s: round(v, 5) for s, v in shares.items()} for t, shares in self.time_shares.items()},
            "time_share_ci": {t: {s: iv(v, 5) for s, v in shares.items()} for t, shares in self.time_share_ci.items()},
            "slots": self.slots,
            "wip": iv(self.wip, 3),
            "queues": {t: {k: iv(v, 5) for k, v in q.items()} for t, q in self.queues.items()},
            "littles_law": {k: round(v, 6) for k, v in self.littles_law.items()},
            "schedule": self.schedule,
            "seconds_per_replication": round(self.seconds_per_replication, 3),
            "cpu_seconds_per_replication": round(self.cpu_seconds_per_replication, 3),
            "warnings": self.warnings,
            **({"planned_mw_by_category": self.execution["planned_mw_by_category"],
                "delivered_mw_by_category": self.execution["delivered_mw_by_category"],
                "execution": self.execution} if self.execution else {}),
        })


def _json_safe(value: Any) -> Any:
    """NaN and infinities (a product nobody finished, a bound without load) become null: strict
    JSON readers (browsers, the service) reject them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def summarize(traces: list[Trace], spec: FactorySpec, layout: Layout, *, mode: str, seed: int,
              warmup_s: float | None, plan_makespan: float | None = None) -> TwinReport:
    """Cut the warm-up (configured, or by Welch's method on deployable output per bin), then
    turn each replication into one number per measure and take t intervals across them."""
    warnings: list[str] = []
    bin_s = traces[0].bin_s
    n_bins = traces[0].completed.shape[0]
    products = layout.products
    need = spec.target.mw
    # Per-bin output in "targets": a unit adds its MW over its category's weekly need.
    weight = np.array([p.mw / need[p.category] if p.category in need else 0.0 for p in products])
    if warmup_s is None:
        cut, method, warning = detect_warmup(traces, weight)
        if warning:
            warnings.append(warning)
    else:
        cut = min(int(math.ceil(warmup_s / bin_s - 1e-9)), n_bins - 1)
        method = "configured"
    warm = cut * bin_s
    gw, mw_cat, units_h, cycle, wip, shares, bn_share, lq, wq, starts, little = [], [], [], [], [], [], [], [], [], [], []
    offered = []
    for t in traces:
        end = t.end_s
        measured = max(end - warm, 1e-9)
        done = t.completed[cut:].sum(0)
        mw = {c: 0.0 for c in need}
        released_mw = {c: 0.0 for c in need}
        for p in products:
            if p.category in mw:
                mw[p.category] += done[p.index] * p.mw * WEEK_S / measured
                released_mw[p.category] += t.released[cut:, p.index].sum() * p.mw * WEEK_S / measured
        mw_cat.append(mw)
        gw.append(deployable_gw(mw, spec.target))
        offered.append(deployable_gw(released_mw, spec.target))
        units_h.append(done * 3600 / measured)
        cyc = t.cycle_sum[cut:].sum(0)
        cycle.append(np.where(done > 0, cyc / np.maximum(done, 1) / 3600, np.nan))
        wip_mean = t.wip_area[cut:].sum() / measured
        wip.append(wip_mean)
        st = t.state_time[cut:].sum(0)  # [station, state]
        shares.append(st / np.maximum(st.sum(1, keepdims=True), 1e-12))
        bn_share.append(momentary_bottleneck(t.active, len(layout.stations), warm, end))
        lq.append(t.queue_area[cut:].sum(0) / measured)
        n = t.wait_n[cut:].sum(0)
        wq.append(np.where(n > 0, t.wait_sum[cut:].sum(0) / np.maximum(n, 1) / 3600, np.nan))
        starts.append(n * 3600 / measured)
        lam = done.sum() / measured
        w = cyc.sum() / done.sum() if done.sum() else math.nan
        little.append((wip_mean, lam * 3600, w / 3600))
    names = [s.name for s in layout.stations]
    mean_shares = np.mean(shares, axis=0)
    time_shares = {name: {STATES[k]: float(mean_shares[i, k]) for k in range(len(STATES))} for i, name in enumerate(names)}
    bottleneck = _bottleneck(names, np.mean(bn_share, axis=0), mean_shares)
    gw_iv = t_interval(gw)
    target_gw = spec.target.facility_gw
    sd = float(np.std(gw, ddof=1)) if len(gw) > 1 else 0.0
    p_normal = float(1 - stats.norm.cdf((target_gw - gw_iv.mean) / sd)) if sd > 0 else float(gw_iv.mean >= target_gw)
    L = float(np.mean([x[0] for x in little]))
    lam = float(np.mean([x[1] for x in little]))
    W = float(np.nanmean([x[2] for x in little]))
    littles = {"L": L, "lambda_per_h": lam, "W_h": W, "relative_error": abs(L - lam * W) / L if L > 0 else 0.0}
    window_h = (float(np.mean([t.end_s for t in traces])) - warm) / 3600
    # A finite window cuts through the units on the floor at its edges: an error of order W/T.
    if not math.isnan(W) and littles["relative_error"] > 0.02 + W / max(window_h, 1e-9):
        warnings.append(f"Little's law is off by {littles['relative_error']:.1%} (L={L:.1f}, lambda*W={lam * W:.1f}): "
                        "the floor is not in steady state over the window (WIP still growing?)")
    bound = capacity_bound_gw(spec, layout)
    if gw_iv.ci_low > bound * (1 + 1e-9) and mode != "schedule":
        warnings.append(f"deployable output {gw_iv.ci_low:.4f} GW/week lies above the analytic best case {bound:.4f}")
    run_end = max(t.end_s for t in traces)
    measured_h = (float(np.mean([t.end_s for t in traces])) - warm) / 3600
    if warmup_s is None and measured_h * 3600 < 10 * warm:
        warnings.append(f"run after warm-up ({measured_h:.0f} h) is shorter than 10x the warm-up ({warm / 3600:.0f} h)")
    wip_series = np.mean([t.wip_area for t in traces], axis=0) / bin_s
    return TwinReport(
        spec_name=spec.name,
        mode=mode,
        release=spec.release.mode if mode != "schedule" else "plan",
        replications=len(traces),
        seed=seed,
        run_h=run_end / 3600,
        warmup_h=warm / 3600,
        warmup_method=method,
        measured_h=measured_h,
        target_gw=target_gw,
        gw_per_week=gw_iv,
        gw_per_replication=gw,
        offered_gw_per_week=float(np.mean(offered)),
        capacity_bound_gw_per_week=bound,
        mw_by_category={c: t_interval([m[c] for m in mw_cat]) for c in need},
        target_mw=dict(need),
        units_per_hour={p.name: t_interval([u[p.index] for u in units_h]) for p in products},
        units_per_hour_by_replication={p.name: [float(u[p.index]) for u in units_h] for p in products},
        cycle_time_h={p.name: t_interval([c[p.index] for c in cycle]) for p in products},
        p_meets_target=float(np.mean([g >= target_gw for g in gw])),
        p_meets_target_normal=p_normal,
        time_shares=time_shares,
        time_share_ci={name: {STATES[k]: t_interval([sh[i, k] for sh in shares]) for k in range(len(STATES))} for i, name in enumerate(names)},
        slots={s.name: s.slots for s in layout.stations},
        bottleneck=bottleneck,
        wip=t_interval(wip),
        wip_series=[(round((b + 0.5) * bin_s / 3600, 4), float(v)) for b, v in enumerate(wip_series)],
        queues={name: {"lq": t_interval([q[i] for q in lq]), "wq_h": t_interval([q[i] for q in wq]),
                       "starts_per_h": t_interval([s[i] for s in starts])} for i, name in enumerate(names)},
        littles_law=littles,
        schedule=_lateness(traces, plan_makespan) if plan_makespan is not None else None,
        seconds_per_replication=float(np.mean([t.wall_s for t in traces])),
        cpu_seconds_per_replication=float(np.mean([t.cpu_s for t in traces])),
        warnings=warnings,
    )


def detect_warmup(traces: list[Trace], weight: np.ndarray) -> tuple[int, str, str | None]:
    """Bins to delete, the method that set the cut, and a warning when the run never settles.
    Output alone cannot see a queue filling on an open line (there output equals arrivals from
    the start); the number on the floor can: MSER-5 on WIP. Output still shows a closed or
    saturated floor's pipeline filling while its WIP stays flat: Welch's method on output.
    The later cut wins."""
    by_output, output_capped = welch_warmup(np.stack([t.completed @ weight for t in traces]))
    by_wip, wip_capped = mser_warmup(np.stack([t.wip_area / t.bin_s for t in traces]))
    if by_wip > by_output:
        return by_wip, "mser5-wip", "the number on the floor was still rising at mid-run: run longer (--weeks)" if wip_capped else None
    return by_output, "welch-output", "Welch's curve never settled in the first half of the run: run longer (--weeks)" if output_capped else None


def capacity_bound_gw(spec: FactorySpec, layout: Layout) -> float:
    """Best case: scale the weekly demand mix until the busiest cell type has no spare available
    time (sim.capacity); the deployable GW/week of that much output."""
    from sim.capacity import type_loads

    busiest = max((t.utilisation for t in type_loads(spec, layout)), default=0.0)
    if busiest <= 0:
        return math.inf
    return deployable_gw(spec.demand_mw(), spec.target) / busiest


def _bottleneck(names: list[str], roser: np.ndarray, shares: np.ndarray) -> dict[str, Any]:
    """Roser's momentary bottleneck when some station is ever fully active; otherwise (every
    type always has a waiting cell) the highest utilisation of available time."""
    avail = 1 - shares[:, OFF] - shares[:, DOWN]
    util = (shares[:, BUSY] + shares[:, SETUP]) / np.maximum(avail, 1e-12)
    by_util = sorted(zip(names, util), key=lambda x: -x[1])
    ranking = sorted(zip(names, roser), key=lambda x: -x[1])
    if ranking and ranking[0][1] > 0.01:
        top, share = ranking[0]
        method = "roser-active-period"
    else:
        top, share = by_util[0]
        method = "utilisation-of-available-time"
    return {
        "type": top,
        "method": method,
        "share": round(float(share), 4),
        "momentary_share": {n: round(float(s), 4) for n, s in ranking if s > 0},
        "utilisation_of_available_time": {n: round(float(u), 4) for n, u in by_util},
    }


def _lateness(traces: list[Trace], plan_makespan: float) -> dict[str, Any]:
    delays = np.concatenate([t.start_delays[:, 1] for t in traces]) if traces else np.zeros(0)
    makespans = [t.last_end_s for t in traces]
    out: dict[str, Any] = {"plan_makespan_h": plan_makespan / 3600,
                           "makespan_h": t_interval([m / 3600 for m in makespans]).to_dict(4),
                           "makespan_ratio": float(np.mean(makespans) / plan_makespan) if plan_makespan else math.nan,
                           "assignments_started": int(delays.size)}
    if delays.size:
        out.update({
            "start_delay_mean_s": float(delays.mean()),
            "start_delay_p50_s": float(np.percentile(delays, 50)),
            "start_delay_p95_s": float(np.percentile(delays, 95)),
            "start_delay_max_s": float(delays.max()),
            "share_started_late": float(np.mean(delays > 1e-6)),
        })
    return out
