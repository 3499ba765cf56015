"""Regression fixture for the twin: small runs over its rare paths, each reduced to digests that
are compared with stored ones (tests/sim/fixtures/twin_digests.json). A change that alters what
the twin does on any of these paths fails here, even when every property test still passes.

When a difference is intended (a model change, a fixed bug), re-record and say why in the commit:

    python -m tests.sim.test_twin_fixtures

A change that only makes the twin faster must leave every digest as it is.

Paths covered: plan execution under blind / repair / replan / rule and the dispatch rules
(fifo, edd, sq) without a plan; bays (cells of several slots) with windows and failures; AGVs;
zero buffers with deadlock parking (plan mode, single cells and bays); long stops the
controller hears of (moves); rework (first-pass yield < 1); carried-in work (steady-state plans
with -wip units, from the #10 review's mkplan.py); runs that end mid-operation."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from plant import load_spec
from scheduler.schedule import Schedule
from sim.replication import RunConfig, run_replication
from tests.sim.test_plan_execution import _swap

HERE = Path(__file__).resolve().parent
SPECS = HERE / "specs"
FIXTURES = HERE / "fixtures"
DIGESTS = FIXTURES / "twin_digests.json"
H = 3600
MID_S = 13.7 * H  # inside the carried-in plans' work: the run ends with operations running
ARRAYS = ("state_time", "completed", "released", "cycle_sum", "wip_area", "queue_area", "wait_sum", "wait_n")


def _loop_variant(name: str):
    return load_spec(str(SPECS / f"fixture_{name}.yaml"))


def _plan(name: str) -> Schedule:
    return Schedule.from_json(FIXTURES / f"plan_{name}.json")


def _bays():
    """The swap on bays of two slots, two units of each product (test_plan_execution's bay
    deadlock): every slot of both bays must wait before the deadlock holds."""
    spec, rows = _swap()
    spec = spec.model_copy(update={"cell_types": [t.model_copy(update={"capacity": 2}) for t in spec.cell_types]})
    return spec, [replace(a, job=f"{a.job[:-1]}{k}") for k in (1, 2) for a in rows]


def _stored_plan_case(variant: str, control: str, mid: bool = False, seed: int = 3) -> RunConfig:
    schedule = _plan(variant)
    end = MID_S if mid else 4.0 * schedule.makespan
    return RunConfig(_loop_variant(variant), end_s=end, bin_s=6 * H, seed=seed, schedule=schedule, control=control,
                     record=True)


def _parking_case(build, control: str) -> RunConfig:
    spec, rows = build()
    return RunConfig(spec, end_s=30 * 86400, bin_s=86400, seed=0, schedule=Schedule(rows, horizon=86400), control=control,
                     record=True)


def _dispatch_case(variant: str, policy: str) -> RunConfig:
    return RunConfig(_loop_variant(variant), end_s=3 * 86400, bin_s=6 * H, seed=1, policy=policy, record=True)


def _parked(c):
    return c["deadlocks_resolved"] >= 1


def _moved(c):
    return c["decisions"].get("move", 0) >= 1


def _reworked(c):
    return c["decisions"].get("rework", 0) >= 1


def _cut(c):
    return c["units_finished"] < c["units"]


# case -> (config builder, replication, what the run must have gone through: checked on the
# trace's controller record, so a case that stops reaching its rare path fails too).
CASES = {
    "windows_bays_blind": (lambda: _stored_plan_case("windows", "blind"), 1, [_reworked]),
    "windows_bays_replan_mid_operation": (lambda: _stored_plan_case("windows", "replan", mid=True), 1, [_cut]),
    "longstops_repair_moves": (lambda: _stored_plan_case("longstops", "repair"), 1, [_moved, _reworked]),
    "longstops_replan": (lambda: _stored_plan_case("longstops", "replan"), 0, [_moved]),
    "tight_zero_buffer_agv_blind": (lambda: _stored_plan_case("tight", "blind"), 1, [_reworked]),
    "agv_rule_mid_operation": (lambda: _stored_plan_case("agv", "rule", mid=True), 1, [_cut]),
    "swap_parking_repair": (lambda: _parking_case(_swap, "repair"), 0, [_parked]),
    "bays_parking_blind": (lambda: _parking_case(_bays, "blind"), 0, [_parked]),
    "random_r11_bays_agv_parking_repair": (lambda: _stored_plan_case("random_r11", "repair"), 0,
                                           [_parked, _moved, _reworked]),
    "random_r37_bays_parking_blind": (lambda: _stored_plan_case("random_r37", "blind"), 0, [_parked, _reworked]),
    "dispatch_fifo_agv": (lambda: _dispatch_case("agv", "fifo"), 1, []),
    "dispatch_edd_windows_bays": (lambda: _dispatch_case("windows", "edd"), 1, []),
    "dispatch_sq_tight": (lambda: _dispatch_case("tight", "sq"), 1, []),
    "dispatch_sq_random_r11": (lambda: _dispatch_case("random_r11", "sq"), 1, []),
}


def _digest(value) -> str:
    return hashlib.sha256(value if isinstance(value, bytes) else repr(value).encode()).hexdigest()[:16]


def _array_bytes(a: np.ndarray) -> bytes:
    # Floats rounded to 1e-6 s first: a bay (a cell of several slots) with windows or failures may
    # add an operation's pieces of time in another order than before, off in the last bits
    # (docs/twin.md, "not bit for bit the old twin"); such a change must not fail the fixture,
    # any real one moves a value by far more. (A value right on a rounding edge could still flip:
    # compare with the float arrays before deciding that a failure here is real.)
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = np.round(a, 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    return a.tobytes() + repr((a.dtype.str, a.shape)).encode()


def fingerprint(config: RunConfig, replication: int) -> dict:
    """Digests of one replication: the executed schedule, each Trace array, and the controller's
    decision counts (its CPU and per-decision timing fields left out: they are not results)."""
    trace = run_replication(config, replication)
    out = {"operations": len(trace.executed), "executed": _digest(trace.executed)}
    for name in ARRAYS:
        out[name] = _digest(_array_bytes(getattr(trace, name)))
    # Row order of start_delays may differ at equal planned starts (docs/twin.md): sorted first.
    delays = np.asarray(trace.start_delays).reshape(-1, 2)
    out["start_delays"] = _digest(_array_bytes(delays[np.lexsort((delays[:, 1], delays[:, 0]))] if len(delays) else delays))
    # float(): the old observer logged a period open since time 0 as int 0, the same value.
    out["active"] = _digest([(s, round(float(a), 6), round(float(b), 6)) for s, a, b in trace.active])
    out["last_end_s"] = round(float(trace.last_end_s), 6)
    control = trace.control or {}
    out["control"] = {k: v for k, v in control.items() if "cpu" not in k and k not in ("decision_s", "cell_down_decision_s")}
    return json.loads(json.dumps(out))  # as it reads back from the file (tuples -> lists)


def _stored() -> dict:
    return json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}


def test_every_case_is_stored():
    assert sorted(_stored().get("cases", {})) == sorted(CASES), \
        f"re-record with `python -m tests.sim.test_twin_fixtures` (stored cases differ from {DIGESTS.name})"


def _reached(case: str) -> dict:
    """The case's digests, after checking it still reaches its path (a fixture that misses its
    path is no fixture)."""
    build, replication, reaches = CASES[case]
    got = fingerprint(build(), replication)
    for check in reaches:
        assert check(got["control"]), f"{case}: the run no longer reaches its path ({check.__name__[1:]}): {got['control']}"
    return got


@pytest.mark.parametrize("case", sorted(CASES))
def test_twin_matches_its_stored_digests(case):
    got = _reached(case)
    want = _stored().get("cases", {}).get(case)
    assert want is not None, f"{case}: no stored digests; record with `python -m tests.sim.test_twin_fixtures`"
    changed = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    assert not changed, (f"{case}: the twin's results changed in {', '.join(changed)}; fix the change, or re-record "
                         f"(`python -m tests.sim.test_twin_fixtures`) and give the reason in the commit. "
                         + "; ".join(f"{k}: {want.get(k)!r} -> {got.get(k)!r}" for k in changed)[:2000])


def record() -> None:
    """Write every case's digests (the documented re-recording; never run by pytest)."""
    data = {"how": "python -m tests.sim.test_twin_fixtures", "cases": {case: _reached(case) for case in sorted(CASES)}}
    DIGESTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    record()
