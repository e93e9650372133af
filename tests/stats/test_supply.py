"""Planned supply from weekly shifts and exceptions; coverage gaps incl. Swedish service."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from helpdesk.models import Region
from helpdesk.stats.languages import swedish_status
from helpdesk.stats.models import ShiftException, ShiftPattern
from helpdesk.stats.supply import coverage, planned_supply
from tests.factories import make_provider, make_supporter

pytestmark = pytest.mark.django_db
HEL = ZoneInfo("Europe/Helsinki")
MONDAY = date(2026, 10, 5)


def hours_of(day: date) -> list[datetime]:
    return [datetime(day.year, day.month, day.day, h, tzinfo=HEL) for h in range(24)]


def test_weekly_pattern_and_exceptions(reference_data):
    region = Region.objects.get(code="12")
    provider = make_provider(regions=["12"], channels=["chat"])
    a = make_supporter(providers=[provider])
    b = make_supporter(providers=[provider])
    ShiftPattern.objects.create(
        supporter=a, provider=provider, weekday=0, start=time(9), end=time(12, 30)
    )
    ShiftPattern.objects.create(
        supporter=b, provider=provider, weekday=0, start=time(10), end=time(11)
    )
    supply = planned_supply(region_id=region.pk, hours=hours_of(MONDAY))
    assert supply[8] == 0 and supply[9] == 1 and supply[10] == 2 and supply[12] == 0.5
    assert sum(supply) == 4.5
    # b is off that Monday and works on Tuesday instead.
    ShiftException.objects.create(supporter=b, provider=provider, date=MONDAY, cancelled=True)
    tuesday = MONDAY + timedelta(days=1)
    ShiftException.objects.create(
        supporter=b, provider=provider, date=tuesday, start=time(14), end=time(16)
    )
    assert sum(planned_supply(region_id=region.pk, hours=hours_of(MONDAY))) == 3.5
    assert sum(planned_supply(region_id=region.pk, hours=hours_of(tuesday))) == 2
    # Other regions and other channels see none of it.
    other = Region.objects.get(code="11")
    assert sum(planned_supply(region_id=other.pk, hours=hours_of(MONDAY))) == 0
    assert sum(planned_supply(region_id=region.pk, hours=hours_of(MONDAY), channel="phone")) == 0


def test_shift_validation(reference_data):
    provider = make_provider(regions=["12"])
    stranger = make_supporter(providers=[make_provider(regions=["11"])])
    with pytest.raises(ValidationError):
        ShiftPattern(
            supporter=stranger, provider=provider, weekday=0, start=time(9), end=time(10)
        ).clean()
    own = make_supporter(providers=[provider])
    with pytest.raises(ValidationError):
        ShiftPattern(
            supporter=own, provider=provider, weekday=0, start=time(9), end=time(8)
        ).clean()
    with pytest.raises(ValidationError):
        ShiftException(supporter=own, provider=provider, date=MONDAY).clean()


def test_swedish_and_bilingual_municipalities_without_swedish_service_are_findings(
    reference_data,
):
    assert swedish_status("545") == "bilingual_sv"  # Närpes
    assert swedish_status("444") == "bilingual_fi"  # Lohja
    assert swedish_status("091") == "bilingual_fi"  # Helsinki
    assert swedish_status("035", "21") == "sv"  # Åland
    assert swedish_status("167") == "fi"  # Joensuu
    make_provider(regions=["15"], languages=["fi"], channels=["chat"])
    region = Region.objects.get(code="15")
    result = coverage(region_ids=[region.pk])
    by_code = {m["municipality_code"]: m for m in result["municipalities"]}
    assert by_code["545"]["swedish_gap"] is True
    assert by_code["905"]["swedish_gap"] is True  # Vaasa, bilingual
    assert by_code["545"]["missing_channels"] == ["phone", "video"]
    summary = result["regions"][0]
    assert summary["swedish_gaps"] == summary["swedish_municipalities"] > 5
    make_provider(municipalities=["545"], languages=["sv"], channels=["phone"])
    by_code = {
        m["municipality_code"]: m for m in coverage(region_ids=[region.pk])["municipalities"]
    }
    assert by_code["545"]["swedish_gap"] is False
    assert by_code["905"]["swedish_gap"] is True
