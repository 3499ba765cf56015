"""Sensitivity signs on a floor where the answer is known (specs/known_bottleneck.yaml): only the
bottleneck's inputs move what the floor can make, each in the physical direction."""
from __future__ import annotations

from pathlib import Path

import pytest

from plant import load_spec
from sim.sensitivity import perturbed, sensitivity, Input

SPEC = Path(__file__).parent / "specs" / "known_bottleneck.yaml"


@pytest.fixture(scope="module")
def result():
    return sensitivity(load_spec(SPEC), weeks=2, warmup_h=12, replications=4, seed=3)


def _effect(result, kind: str, target: str):
    [effect] = [e for e in result.effects if e.input.kind == kind and e.input.target == target]
    return effect


@pytest.mark.parametrize("kind, target, sign", [
    ("duration", "welder", -1),  # longer welds: fewer units
    ("mttr", "welder", -1),  # longer repairs: less available time
    ("mttf", "welder", +1),  # rarer failures: more
    ("cells", "welder", +1),  # more welders: more
    ("yield", "unit/weld", -1),  # a larger failure share: more rework visits
])
def test_bottleneck_inputs_move_output_in_the_physical_direction(result, kind: str, target: str, sign: int) -> None:
    e = _effect(result, kind, target)
    raised, lowered = e.high, e.low
    assert sign * raised.ci_low > 0 or sign * raised.ci_high > 0
    assert sign * raised.mean > 0 and sign * lowered.mean < 0
    # CRN make the paired intervals tight enough to exclude zero for the strong inputs
    if kind in ("duration", "cells"):
        assert (raised.ci_low > 0) == (sign > 0) and (raised.ci_high < 0) == (sign < 0)


def test_a_station_with_spare_capacity_does_not_matter(result) -> None:
    strongest = _effect(result, "duration", "welder").swing
    for kind in ("duration", "cells"):
        assert _effect(result, kind, "cutter").swing < 0.1 * strongest


def test_ranking_starts_with_the_bottleneck(result) -> None:
    ranked = result.ranked()
    assert ranked[0].input.target in ("welder", "unit/weld")
    assert [e.swing for e in ranked] == sorted((e.swing for e in ranked), reverse=True)


def test_small_cell_counts_move_by_a_whole_cell() -> None:
    spec = load_spec(SPEC)
    variant, change = perturbed(spec, Input("cells", "cutter", 4.0), 1.1)
    assert variant.cell_count("cutter") == 5 and change == pytest.approx(0.25)


def test_bad_inputs_name_their_option() -> None:
    with pytest.raises(ValueError, match="--types"):
        sensitivity(load_spec(SPEC), types={"nope"}, replications=2)
    with pytest.raises(ValueError, match="--change"):
        sensitivity(load_spec(SPEC), change=1.5, replications=2)


def test_html_report_has_the_ranked_table_and_tornado(result) -> None:
    from sim.html import render_html

    page = render_html(result.base_report, sensitivity=result)
    assert 'aria-label="tornado chart"' in page
    ranked = [e.input.label for e in result.ranked()]
    positions = [page.index(f">{label}</td>") for label in ranked]
    assert positions == sorted(positions)  # the table lists them in rank order
