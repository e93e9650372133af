"""A whole support day through the pure engine (routing.simulation): nothing lost."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from routing.availability import HELSINKI
from routing.simulation import sample_network, simulate_day


@pytest.mark.parametrize("seed", [1, 2])
def test_simulated_day_ends_every_contact(seed):
    regions, providers, supporters = sample_network()
    rates = {}
    for region in regions:
        # A busy morning peak, a quiet afternoon (arrivals per hour, hour by hour).
        rates[(region.name, "chat")] = [8, 14, 18, 14, 10, 8, 6, 6, 4, 2]
        rates[(region.name, "phone")] = 4.0
    report = simulate_day(
        seed=seed,
        regions=regions,
        arrival_rates=rates,
        supporters=supporters,
        providers=providers,
        start=datetime(2026, 11, 24, 8, 0, tzinfo=HELSINKI),  # a Tuesday
        hours=10,
    )
    print()
    print(report.format())
    assert report.arrivals > 300
    assert len(report.outcomes) == report.arrivals
    assert {o.final_state for o in report.outcomes} <= {"ended", "abandoned"}
    assert report.double_assignments == 0
    assert report.capacity_violations == 0
    assert report.lost_contacts == 0
    # Most customers are answered in their own region, within minutes.
    regional = sum(w.answered for w in report.step_waits if w.target == "region")
    answered = sum(w.answered for w in report.step_waits)
    assert regional > answered / 2
    assert report.abandoned < report.arrivals * 0.1


def test_simulated_saturday_reaches_the_national_line():
    regions, providers, supporters = sample_network()
    rates = {(region.name, "chat"): 6.0 for region in regions}
    report = simulate_day(
        seed=3,
        regions=regions,
        arrival_rates=rates,
        supporters=supporters,
        providers=providers,
        start=datetime.combine(datetime(2026, 11, 28).date(), time(10), tzinfo=HELSINKI),
        hours=6,
    )
    print()
    print(report.format())
    assert report.lost_contacts == 0 and report.double_assignments == 0
    assert {o.final_state for o in report.outcomes} <= {"ended", "abandoned"}
    # Regional providers are closed on Saturdays: whoever is answered, is answered
    # nationally (escalations are pinned to the national provider).
    answered_at = {w.target for w in report.step_waits if w.answered}
    assert answered_at <= {"national", "pinned provider"}
