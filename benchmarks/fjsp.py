"""FJSP benchmark: the planner's front door (`scheduler.plan`: warm start, CP-SAT probe, tabu
search, CP-SAT) against the textbook reference model, same instances, same limits, same run;
each against the best known makespans and against our own bound.

    PYTHONPATH=. python benchmarks/fjsp.py                      # Brandimarte mk01-mk10, 10 s
    PYTHONPATH=. python benchmarks/fjsp.py --set hurink --time-limit 30
    PYTHONPATH=. python benchmarks/fjsp.py --instances 'Brandimarte1993/mk0[1-3].txt' --json
    PYTHONPATH=. python benchmarks/fjsp.py --cluster-workers 1 2 --no-reference   # Dask tasks, equal wall time

With `--cluster-workers 1 2` the front door also runs on a Dask LocalCluster of 1, then 2 worker
processes (one thread each; the tabu restarts, and on large instances the LNS neighbourhoods,
are its tasks) with the same time limit: quality at equal wall time. The last lines give the CPU
seconds this run got (own and children) and the load average: figures taken on a shared machine
are only comparable within one run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from scheduler.planning import Limits, plan
from scheduler.cpsat.reference import solve_reference
from scheduler.fjsplib import read_fjsp
from scheduler.validate import validate

ROOT = Path("/work/shared/benchmarks/fjsp")
SETS = {
    "brandimarte": [f"Brandimarte1993/mk{i:02d}.txt" for i in range(1, 11)],
    "hurink": None,  # every file of HurinkJurischThole1994/edata
}


def best_known(root: Path) -> dict[str, int]:
    with open(root / "bks.csv") as f:
        return {row["path"]: int(row["best_known_makespan"]) for row in csv.DictReader(f)}


def instances(root: Path, name: str, patterns: list[str] | None) -> list[str]:
    if patterns:
        return sorted({str(p.relative_to(root)) for pattern in patterns for p in root.glob(pattern)})
    if name == "hurink":
        return sorted(str(p.relative_to(root)) for p in (root / "HurinkJurischThole1994/edata").glob("*.txt"))
    return SETS[name]


def gap(value: float, reference: float) -> float:
    return (value - reference) / reference if reference else 0.0


def run(paths: list[str], root: Path, time_limit: float, workers: int, seed: int, reference: bool, cluster: object | None = None) -> list[dict]:
    bks = best_known(root)
    rows = []
    with Progress(console=Console(stderr=True), transient=True) as progress:
        bar = progress.add_task("fjsp", total=len(paths))
        for rel in paths:
            problem = read_fjsp(root / rel)
            ours = plan(problem, "makespan", Limits(time_limit, workers, seed, cluster))
            validate(problem, ours.schedule)  # the independent checker, again, on what is reported
            row = {
                "instance": rel,
                "operations": problem.n_operations,
                "best_known": bks.get(rel),
                "makespan": ours.schedule.makespan,
                "bound": ours.bound,
                "status": ours.status,
                "seconds": round(ours.seconds, 2),
                "gap_best_known": gap(ours.schedule.makespan, bks[rel]) if rel in bks else None,
                "gap_bound": ours.gap,
                "tabu": ours.kpis.get("tabu_makespan"),
                "tabu_restarts": ours.kpis.get("tabu_restarts"),
            }
            if reference:
                ref = solve_reference(problem, time_limit=time_limit, workers=workers, seed=seed)
                if ref.assignments:
                    validate(problem, ref)
                row.update(
                    ref_makespan=ref.makespan if ref.assignments else None,
                    ref_status=ref.status,
                    ref_seconds=round(ref.seconds, 2),
                    ref_gap_best_known=gap(ref.makespan, bks[rel]) if rel in bks and ref.assignments else None,
                )
            rows.append(row)
            progress.advance(bar)
    return rows


def summary(rows: list[dict]) -> dict:
    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r.get(key) is not None]
        return statistics.mean(values) if values else None

    return {
        "instances": len(rows),
        "mean_gap_best_known": mean("gap_best_known"),
        "mean_gap_bound": mean("gap_bound"),
        "mean_seconds": mean("seconds"),
        "ref_mean_gap_best_known": mean("ref_gap_best_known"),
        "ref_mean_seconds": mean("ref_seconds"),
        "ref_missing": sum(1 for r in rows if "ref_status" in r and r["ref_makespan"] is None),
        "proved_optimal": sum(1 for r in rows if r["status"] == "optimal"),
        "ref_proved_optimal": sum(1 for r in rows if r.get("ref_status") == "optimal"),
    }


def print_table(rows: list[dict], totals: dict, args: argparse.Namespace) -> None:
    pct = lambda v: "   -  " if v is None else f"{100 * v:5.2f}%"  # noqa: E731
    print(f"FJSP {args.set or args.instances}: time limit {args.time_limit:g} s, {args.workers} workers, seed {args.seed}")
    print(f"{'instance':34} {'ops':>5} {'bks':>6} | {'ours':>6} {'gap bks':>7} {'bound':>6} {'gap bnd':>7} {'s':>6} | {'ref':>6} {'gap bks':>7} {'s':>6}")
    for r in rows:
        ref = f"{r.get('ref_makespan') or '-':>6} {pct(r.get('ref_gap_best_known')):>7} {r.get('ref_seconds', 0):6.1f}" if "ref_status" in r else ""
        print(
            f"{r['instance']:34} {r['operations']:5d} {r['best_known'] or '-':>6} | {r['makespan']:6d} {pct(r['gap_best_known']):>7} "
            f"{r['bound']:6.0f} {pct(r['gap_bound']):>7} {r['seconds']:6.1f} | {ref}"
        )
    print(
        f"mean gap to best known: ours {pct(totals['mean_gap_best_known'])}, reference {pct(totals['ref_mean_gap_best_known'])}"
        f" (reference found nothing on {totals['ref_missing']}); mean gap to our bound {pct(totals['mean_gap_bound'])}"
    )
    print(f"proved optimal: ours {totals['proved_optimal']}, reference {totals['ref_proved_optimal']} of {totals['instances']}")


def on_cluster(paths: list[str], args: argparse.Namespace) -> list[dict]:
    """The front door on a LocalCluster of n worker processes, for each n asked: one summary each."""
    from dask.distributed import LocalCluster

    out = []
    for n in args.cluster_workers:
        with LocalCluster(n_workers=n, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
            rows = run(paths, args.root, args.time_limit, args.workers, args.seed, False, cluster)
        out.append({"worker_processes": n, "summary": summary(rows), "instances": rows})
    return out


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default=None, help="instance set (default brandimarte)")
    parser.add_argument("--instances", nargs="+", help="globs under the benchmark root, e.g. 'Brandimarte1993/mk1*.txt'")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-reference", action="store_true", help="skip the textbook model")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--save", type=Path, help="also write the JSON object to this file")
    parser.add_argument("--cluster-workers", type=int, nargs="*", default=[], help="also run on a Dask LocalCluster of N worker processes, for each N")
    args = parser.parse_args(argv)
    if args.set is None and args.instances is None:
        args.set = "brandimarte"
    paths = instances(args.root, args.set, args.instances)
    if not paths:
        print(f"no instances match {args.instances!r} under {args.root}", file=sys.stderr)
        return 2
    if any(n < 1 for n in args.cluster_workers):
        print(f"--cluster-workers: each must be at least 1, got {args.cluster_workers}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    rows = run(paths, args.root, args.time_limit, args.workers, args.seed, not args.no_reference)
    totals = summary(rows)
    clustered = on_cluster(paths, args) if args.cluster_workers else []
    machine = {"wall_s": round(time.perf_counter() - began, 1), "cpu_s": round(cpu_seconds(), 1), "load_average": os.getloadavg()}
    record = json.dumps({"time_limit": args.time_limit, "workers": args.workers, "seed": args.seed, "summary": totals, "instances": rows,
                         "cluster": clustered, "machine": machine})
    if args.save:
        args.save.write_text(record)
    if args.json:
        print(record)
    else:
        print_table(rows, totals, args)
        pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"  # noqa: E731
        for run_ in clustered:
            t = run_["summary"]
            print(f"LocalCluster, {run_['worker_processes']} worker process(es), same limits: mean gap to best known {pct(t['mean_gap_best_known'])}, "
                  f"to our bound {pct(t['mean_gap_bound'])}; proved optimal {t['proved_optimal']} of {t['instances']}; mean {t['mean_seconds']:.1f} s")
        print(f"machine: wall {machine['wall_s']} s, CPU {machine['cpu_s']} s (this process and its children), "
              f"load average {' / '.join(f'{x:.1f}' for x in machine['load_average'])} (1/5/15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
