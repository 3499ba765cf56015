"""The twin against the exact results of shared/reference/twin-validation.md: the same spec
files, runs and seeds as tests/sim, printed as a table (exact value, twin mean and 95% CI,
error of the mean relative to the exact value, whether the interval covers it)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "sim"))

from twin_cases import load_case, run  # noqa: E402

CASES = [
    ("M/M/1 lambda=10, mu=12: Wq (h)", "mm1", {}, dict(weeks=12, warmup_h=50, replications=10, seed=1), ("queue", "server", "wq_h"), 0.41667),
    ("M/M/1: Lq", "mm1", {}, dict(weeks=12, warmup_h=50, replications=10, seed=1), ("queue", "server", "lq"), 4.1667),
    ("M/D/1 (P-K): Lq", "mm1", {"products[0].routing[0].variability": {"distribution": "deterministic"}},
     dict(weeks=12, warmup_h=50, replications=10, seed=2), ("queue", "server", "lq"), (10 / 12) ** 2 / (2 * (1 - 10 / 12))),
    ("M/M/3 lambda=2, mu=1: Wq (h)", "mmc", {}, dict(weeks=12, warmup_h=50, replications=10, seed=1), ("queue", "server", "wq_h"), 0.4444),
    ("two stations mu1=mu2=1, b=0: TH", "two_station_line", {"cell_types[1].buffer": 0}, dict(weeks=12, warmup_h=20, replications=10, seed=3), ("th",), 2 / 3),
    ("two stations mu1=mu2=1, b=1: TH", "two_station_line", {"cell_types[1].buffer": 1}, dict(weeks=12, warmup_h=20, replications=10, seed=3), ("th",), 0.75),
    ("two stations mu1=1.2, mu2=1, b=2: TH", "two_station_line", {"products[0].routing[0].duration": 3000, "cell_types[1].buffer": 2},
     dict(weeks=12, warmup_h=20, replications=10, seed=3), ("th",), 0.8656),
    ("CONWIP N=4, t=1, w=3: TH", "conwip_line", {"release.wip": 3}, dict(weeks=12, warmup_h=20, replications=10, seed=4), ("th",), 0.5),
    ("CONWIP N=4, t=1, w=12: TH", "conwip_line", {"release.wip": 12}, dict(weeks=12, warmup_h=20, replications=10, seed=4), ("th",), 0.8),
    ("breakdowns t0=1, mf=100, mr=10: TH = 1/t_e", "breakdowns", {}, dict(weeks=24, warmup_h=100, replications=10, seed=5), ("th",), 1 / 1.1),
    ("yield 0.8, repeat the step: TH", "breakdowns", {"cell_types[0].mttf": None, "products[0].routing[0].first_pass_yield": 0.8},
     dict(weeks=12, warmup_h=10, replications=5, seed=6), ("th",), 0.8),
]


def main() -> int:
    print(f"{'case':48s} {'exact':>8s} {'twin mean':>10s} {'95% CI':>22s} {'error':>8s}  covered  Little L vs lambda*W")
    misses = 0
    for label, name, overrides, kwargs, what, exact in CASES:
        report = run(load_case(name, **overrides), **kwargs)  # also asserts Little's law and the best-case bound
        iv = report.units_per_hour["job"] if what[0] == "th" else report.queues[what[1]][what[2]]
        covered = iv.contains(exact)
        misses += not covered
        little = report.littles_law
        print(f"{label:48s} {exact:8.4f} {iv.mean:10.4f} [{iv.ci_low:9.4f}, {iv.ci_high:9.4f}] {(iv.mean - exact) / exact:+8.2%}  "
              f"{'yes' if covered else 'NO':7s}  {little['L']:.3f} vs {little['lambda_per_h'] * little['W_h']:.3f}")
    print(f"{len(CASES) - misses}/{len(CASES)} exact values inside the twin's 95% interval")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
