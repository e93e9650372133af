"""Whole simulated days driven through ``routing.engine.decide``."""

from __future__ import annotations

from datetime import datetime

import pytest

from routing.availability import HELSINKI
from routing.simulation import Behaviour, SimulationReport, sample_network, simulate_day

TUESDAY = datetime(2025, 3, 4, 8, 0, tzinfo=HELSINKI)
CHRISTMAS_EVE = datetime(2025, 12, 24, 8, 0, tzinfo=HELSINKI)


def rates(regions, chat: float, phone: float, video: float) -> dict:
    return {
        (r.name, channel): rate
        for r in regions
        for channel, rate in (("chat", chat), ("phone", phone), ("video", video))
    }


def run(seed: int, *, start=TUESDAY, hours=8.0, load=(6.0, 5.0, 1.0), **network):
    regions, providers, supporters = sample_network(**network)
    return simulate_day(
        seed=seed,
        regions=regions,
        providers=providers,
        supporters=supporters,
        arrival_rates=rates(regions, *load),
        start=start,
        hours=hours,
    )


def assert_sound(report: SimulationReport) -> None:
    assert report.double_assignments == 0
    assert report.capacity_violations == 0
    assert report.lost_contacts == 0
    assert len(report.outcomes) == report.arrivals
    assert {o.final_state for o in report.outcomes} <= {"ended", "abandoned"}
    answered = sum(w.answered for w in report.step_waits)
    assert answered == report.offers_accepted
    assert report.offers_made == (
        report.offers_accepted
        + report.offers_declined
        + report.offers_expired
        + report.offers_withdrawn
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_day_in_four_regions(seed, capsys):
    report = run(seed)
    with capsys.disabled():
        print()
        print(report.format())
    assert_sound(report)
    assert report.arrivals > 300
    assert report.ended > report.abandoned
    targets = {w.target for w in report.step_waits if w.answered}
    assert {"region", "national"} <= targets
    first_step = next(w for w in report.step_waits if (w.workflow_id, w.step_index) == (1, 0))
    assert first_step.p50_s <= first_step.p90_s
    assert report.advances > 0
    assert report.offers_expired > 0
    assert report.offers_declined > 0


def test_same_seed_same_day():
    assert run(11, hours=2) == run(11, hours=2)
    assert run(11, hours=2) != run(12, hours=2)


def test_overloaded_day_abandons_but_loses_nobody():
    report = run(5, hours=3, load=(30.0, 20.0, 5.0), supporters_per_region=2)
    assert_sound(report)
    assert report.abandoned > 0
    assert report.callbacks > 0
    assert report.advances > 0


def test_holiday_closes_every_provider():
    report = run(8, start=CHRISTMAS_EVE, hours=3)
    assert_sound(report)
    assert report.arrivals > 0
    assert report.offers_made == 0
    assert report.ended == 0
    assert report.closed_notices == report.arrivals


def test_evening_falls_through_to_national():
    # Regional providers close at 18, the national line at 21.
    evening = datetime(2025, 3, 4, 18, 30, tzinfo=HELSINKI)
    report = run(9, start=evening, hours=2, national_supporters=6)
    assert_sound(report)
    answered = {w.target for w in report.step_waits if w.answered}
    # Escalations are pinned to the national provider too.
    assert "national" in answered
    assert answered <= {"national", "pinned provider"}


def test_hourly_arrival_profile():
    regions, providers, supporters = sample_network()
    quiet_then_busy = {(r.name, "chat"): [0.0, 0.0, 20.0] for r in regions}
    report = simulate_day(
        seed=3,
        regions=regions,
        providers=providers,
        supporters=supporters,
        arrival_rates=quiet_then_busy,
        start=TUESDAY,
        hours=3,
        behaviour=Behaviour(tick_s=10),
    )
    assert_sound(report)
    assert report.arrivals > 30
    assert all(o.channel == "chat" for o in report.outcomes)


def test_night_across_the_daylight_saving_change():
    # Saturday 20:00 to Sunday 06:00 across 2025-03-30 03:00 -> 04:00; the
    # national line closes at 21 and nobody else is open.
    saturday_evening = datetime(2025, 3, 29, 20, 0, tzinfo=HELSINKI)
    report = run(4, start=saturday_evening, hours=10, load=(1.0, 1.0, 0.5))
    assert_sound(report)
    assert report.closed_notices > 0
    assert {o.final_state for o in report.outcomes if o.answered_step is None} == {"abandoned"}


def test_unknown_region_is_refused():
    regions, providers, supporters = sample_network()
    with pytest.raises(ValueError):
        simulate_day(
            seed=1,
            regions=regions,
            providers=providers,
            supporters=supporters,
            arrival_rates={("Ahvenanmaa", "chat"): 1.0},
            start=TUESDAY,
        )
