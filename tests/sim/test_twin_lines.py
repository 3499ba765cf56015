"""Lines and breakdowns (twin-validation.md): finite buffers with blocking, CONWIP, effective
process time under preemptive failures; plus yield loss and planned windows, whose exact
values follow from the same arithmetic."""
import pytest

from twin_cases import load_case, run


@pytest.mark.parametrize(("first_h", "buffer", "exact"), [(1.0, 0, 2 / 3), (1.0, 1, 0.75), (1 / 1.2, 2, 0.8656)])
def test_two_station_line_with_finite_buffer(first_h, buffer, exact):
    spec = load_case("two_station_line", **{"products[0].routing[0].duration": first_h * 3600, "cell_types[1].buffer": buffer})
    report = run(spec, weeks=12, warmup_h=20, replications=10, seed=3)
    assert report.units_per_hour["job"].contains(exact), report.units_per_hour["job"]
    assert report.time_shares["first"]["starved"] + report.time_shares["first"]["idle"] < 1e-9  # infinite supply
    assert report.time_shares["first"]["blocked"] > 0.05  # blocking after service happens


@pytest.mark.parametrize(("wip", "exact"), [(3, 0.5), (12, 0.8)])
def test_conwip_line_practical_worst_case(wip, exact):
    spec = load_case("conwip_line", **{"release.wip": wip})
    report = run(spec, weeks=12, warmup_h=20, replications=10, seed=4)
    assert report.units_per_hour["job"].contains(exact), report.units_per_hour["job"]
    assert report.wip.mean == pytest.approx(wip, abs=1e-6)


def test_effective_process_time_under_breakdowns():
    spec = load_case("breakdowns")
    report = run(spec, weeks=24, warmup_h=100, replications=10, seed=5)
    # t_e = t0 / A = 1.1 h, so a saturated machine makes 1/1.1 per hour.
    assert report.units_per_hour["job"].contains(1 / 1.1), report.units_per_hour["job"]
    shares = report.time_shares["machine"]
    assert shares["down"] == pytest.approx(1 - 100 / 110, abs=0.01)


def test_yield_loss_repeats_the_step():
    # 80% first-pass yield, failed units redo the step: 1/0.8 visits per good unit.
    spec = load_case("breakdowns", **{"cell_types[0].mttf": None, "products[0].routing[0].first_pass_yield": 0.8})
    report = run(spec, weeks=12, warmup_h=10, replications=5, seed=6)
    assert report.units_per_hour["job"].contains(0.8), report.units_per_hour["job"]


def test_planned_windows_take_their_duty_cycle():
    # 1 h off every 4 h, work resumes after the window: 3/4 of the deterministic rate.
    spec = load_case("breakdowns", **{"cell_types[0].mttf": None,
                                      "cell_types[0].unavailable": [{"start": "2h", "duration": "1h", "every": "4h"}]})
    report = run(spec, weeks=4, warmup_h=4, replications=3, seed=7)
    assert report.units_per_hour["job"].mean == pytest.approx(0.75, abs=0.01)
    assert report.time_shares["machine"]["off"] == pytest.approx(0.25, abs=0.01)
