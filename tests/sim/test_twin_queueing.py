"""The twin reproduces exact single-station queueing results (twin-validation.md): the exact
value lies inside the 95% interval across replications, and Little's law holds per station."""
from twin_cases import load_case, run

# Seeds are fixed, so each assertion is deterministic; runs are long enough (about 20,000
# customers each for M/M/1) that the interval is tight yet the exact value sits well inside.


def test_mm1_waiting_time_and_queue_length():
    spec = load_case("mm1")
    report = run(spec, weeks=12, warmup_h=50, replications=10, seed=1)
    queue = report.queues["server"]
    assert queue["wq_h"].contains(0.41667), queue["wq_h"]
    assert queue["lq"].contains(4.1667), queue["lq"]
    assert queue["wq_h"].half_width < 0.05  # tight enough to mean something
    assert report.units_per_hour["job"].contains(10.0)


def test_mmc_three_cells_share_one_queue():
    spec = load_case("mmc")
    report = run(spec, weeks=12, warmup_h=50, replications=10, seed=1)
    queue = report.queues["server"]
    assert queue["wq_h"].contains(0.4444), queue["wq_h"]
    # Little's law for the queue alone: Lq = lambda Wq.
    lam = queue["starts_per_h"].mean
    assert abs(queue["lq"].mean - lam * queue["wq_h"].mean) < 0.02 * queue["lq"].mean
    # Three cells at rho = 2/3: each busy two thirds of the time.
    assert abs(report.time_shares["server"]["busy"] - 2 / 3) < 0.02


def test_mm1_with_deterministic_service_is_md1():
    # Same spec, service made deterministic: Pollaczek-Khinchine for M/D/1, Lq = r^2 / (2(1-r)).
    spec = load_case("mm1", **{"products[0].routing[0].variability": {"distribution": "deterministic"}})
    report = run(spec, weeks=12, warmup_h=50, replications=10, seed=2)
    r = 10 / 12
    assert report.queues["server"]["lq"].contains(r * r / (2 * (1 - r))), report.queues["server"]["lq"]
