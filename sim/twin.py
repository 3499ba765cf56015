"""The twin's front: `Twin(spec).run(schedule=None)` runs R replications (in this process, a
process pool, or a Dask cluster; the same seed gives the same numbers on each) and summarises
them into a TwinReport."""
from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Callable

import numpy as np
from scipy import stats

from plant.demand import WEEK_S
from plant.spec import FactorySpec
from scheduler.control import cached_control_plan
from scheduler.schedule import Schedule
from sim.execution import execution_summary
from sim.layout import compile_layout
from sim.statistics import t_interval
from sim.observer import Trace
from sim.replication import RunConfig, run_replication
from sim.report import TwinReport, summarize

_BINS = 250  # statistics bins per replication: fine enough for Welch (an hour for a week's run), cheap to keep


class Twin:
    def __init__(self, spec: FactorySpec, *, weeks: float = 1.0, warmup_h: float | None = None, replications: int = 10,
                 seed: int = 0, policy: str = "fifo", workers: int = 1, cluster: str | object | None = None,
                 progress: Callable[[int, int], None] | None = None, control: str = "repair",
                 control_options: dict | None = None) -> None:
        if not weeks > 0:
            raise ValueError(f"weeks: must be > 0, got {weeks}")
        if replications < 2:
            raise ValueError(f"replications: need at least 2 for a confidence interval, got {replications}")
        if warmup_h is not None and warmup_h < 0:
            raise ValueError(f"warmup: must be >= 0 hours, got {warmup_h}")
        if workers < 1:
            raise ValueError(f"workers: must be >= 1, got {workers}")
        self.spec = spec
        self.layout = compile_layout(spec)
        self.weeks = weeks
        self.warmup_h = warmup_h
        self.replications = replications
        self.seed = seed
        self.policy = policy
        self.workers = workers
        self.cluster = cluster
        self.progress = progress
        self.control = control
        self.control_options = tuple(sorted((control_options or {}).items()))

    def warmup_allowance_s(self) -> float:
        """Extra simulated time ahead of the measured weeks: the configured warm-up, or for
        Welch's method twice the slowest product's flow time (a floor starting empty makes
        nothing before its first units get through; the 1 GW floor's burn-in alone is 24 h)."""
        if self.warmup_h is not None:
            return self.warmup_h * 3600
        slowest = max((p.critical_path_s for p in self.layout.products if p.weekly_units > 0), default=0.0)
        return max(2 * slowest, 0.1 * self.weeks * WEEK_S)

    def config(self, schedule: Schedule | None = None) -> RunConfig:
        if schedule is None:
            end = self.weeks * WEEK_S + self.warmup_allowance_s()
        else:
            # A plan runs until its last unit is done; the cap only stops a floor that cannot.
            end = max(self.weeks * WEEK_S, 4.0 * max(schedule.makespan, 1))
        return RunConfig(self.spec, end_s=end, bin_s=end / _BINS, seed=self.seed, policy=self.policy, schedule=schedule,
                         control=self.control, control_options=self.control_options)

    def traces(self, config: RunConfig) -> list[Trace]:
        reps = list(range(self.replications))
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if self.progress is not None:
                self.progress(done, len(reps))

        if self.cluster is not None:
            return _on_dask(self.cluster, config, reps, tick)
        if self.workers == 1:
            out = []
            for r in reps:
                out.append(run_replication(config, r))
                tick()
            return out
        with ProcessPoolExecutor(max_workers=min(self.workers, len(reps))) as pool:
            futures = [pool.submit(run_replication, config, r) for r in reps]
            out = []
            for f in futures:  # in replication order, so results never depend on finishing order
                out.append(f.result())
                tick()
            return out

    def run(self, schedule: Schedule | None = None) -> TwinReport:
        config = self.config(schedule)
        plan = cached_control_plan(self.spec, schedule) if schedule is not None else None  # refuses a plan that does not fit, before any run
        traces = self.traces(config)
        warmup = self.warmup_h * 3600 if self.warmup_h is not None else (0.0 if schedule is not None else None)
        report = summarize(traces, self.spec, self.layout, mode="schedule" if schedule else f"policy:{self.policy}",
                           seed=self.seed, warmup_s=warmup, plan_makespan=float(schedule.makespan) if schedule else None)
        if schedule is not None and math.isfinite(config.end_s):
            unfinished = [t for t in traces if t.last_end_s >= config.end_s - 1e-6]
            if unfinished:
                report.warnings.append(f"{len(unfinished)} replication(s) did not finish the plan within {config.end_s / 3600:.0f} h")
            report = _judged_by_horizon(report, execution_summary(plan, traces, self.spec, self.control))
        return report


def _judged_by_horizon(report: TwinReport, execution: dict) -> TwinReport:
    """A plan is judged by what it delivers by its horizon, as a weekly rate (an 8 h plan is
    not a week): GW/week and P(week >= target) come from that, not from the run's length."""
    weekly = execution["delivered_gw_per_week"]
    per_rep = execution.pop("_gw_per_replication")
    target = report.target_gw
    sd = float(np.std(per_rep, ddof=1)) if len(per_rep) > 1 else 0.0
    p_normal = float(1 - stats.norm.cdf((target - weekly["mean"]) / sd)) if sd > 0 else float(weekly["mean"] >= target)
    return replace(report, gw_per_week=t_interval(per_rep), gw_per_replication=per_rep,
                   p_meets_target=float(np.mean([g >= target for g in per_rep])), p_meets_target_normal=p_normal,
                   execution=execution)


def _on_dask(cluster: str | object, config: RunConfig, reps: list[int], tick: Callable[[], None]) -> list[Trace]:
    """Replications as Dask tasks; `cluster` is a scheduler address (tcp://host:8786) or a
    LocalCluster / Client object."""
    from dask.distributed import Client, as_completed

    if isinstance(cluster, Client):
        client, own = cluster, False
    else:
        address = cluster if isinstance(cluster, str) else cluster.scheduler_address
        try:
            client, own = Client(address, timeout="5s"), True
        except OSError as exc:
            raise ValueError(f"--cluster: cannot reach a Dask scheduler at {address} ({exc})") from None
    try:
        [remote_config] = client.scatter([config], broadcast=True)
        futures = [client.submit(run_replication, remote_config, r, pure=False) for r in reps]
        for _ in as_completed(futures):
            tick()
        return client.gather(futures)
    finally:
        if own:
            client.close()
