"""The traffic simulator: in proportion to population, weekly and daily profiles, holidays."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import holidays
import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum

from helpdesk.models import Contact, ContactEvent, Municipality
from helpdesk.stats.simulator import hourly_rate, simulate_traffic

pytestmark = pytest.mark.django_db
HEL = ZoneInfo("Europe/Helsinki")
END = datetime(2026, 10, 5, 0, tzinfo=UTC)


def test_rates_follow_population_profiles_and_holidays():
    fi = holidays.country_holidays("FI", years=[2026])
    tuesday_10 = datetime(2026, 10, 6, 10, tzinfo=HEL)
    assert hourly_rate(20000, tuesday_10, fi) == pytest.approx(
        2 * hourly_rate(10000, tuesday_10, fi)
    )
    assert hourly_rate(10000, datetime(2026, 10, 6, 3, tzinfo=HEL), fi) < hourly_rate(
        10000, tuesday_10, fi
    )
    assert hourly_rate(10000, datetime(2026, 10, 11, 10, tzinfo=HEL), fi) < hourly_rate(
        10000, tuesday_10, fi
    )
    independence_day = datetime(2026, 12, 6, 10, tzinfo=HEL)
    ordinary_sunday = datetime(2026, 11, 29, 10, tzinfo=HEL)
    assert hourly_rate(10000, independence_day, fi) < hourly_rate(10000, ordinary_sunday, fi)


def test_simulated_history_is_in_proportion_to_population(reference_data):
    summary = simulate_traffic(weeks=2, seed=4, region_codes=["12", "21"], end=END, rate_scale=3)
    assert summary.contacts == Contact.objects.count() > 300
    assert ContactEvent.objects.filter(kind="created").count() == summary.contacts
    counts = dict(
        Contact.objects.values_list("region__code")
        .annotate(n=Count("id"))
        .values_list("region__code", "n")
    )
    pops = dict(
        Municipality.objects.filter(region__code__in=["12", "21"])
        .values("region__code")
        .annotate(p=Sum("population"))
        .values_list("region__code", "p")
    )
    ratio = (counts["12"] / counts["21"]) / (pops["12"] / pops["21"])
    assert 0.7 < ratio < 1.4
    assert not Contact.objects.filter(created_at__gte=END).exists()
    # Åland speaks Swedish.
    aland = Contact.objects.filter(region__code="21")
    assert aland.filter(language="sv").count() > aland.count() / 2


def test_same_seed_same_history(reference_data):
    a = simulate_traffic(weeks=1, seed=9, region_codes=["21"], end=END)
    first = list(
        Contact.objects.order_by("created_at").values_list("created_at", "channel", "state")
    )
    Contact.objects.all().delete()
    b = simulate_traffic(weeks=1, seed=9, region_codes=["21"], end=END)
    second = list(
        Contact.objects.order_by("created_at").values_list("created_at", "channel", "state")
    )
    assert a.contacts == b.contacts and first == second


def test_bad_arguments_are_clear_errors(reference_data):
    with pytest.raises(CommandError):
        call_command("simulate_traffic", "--weeks", "0", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("simulate_traffic", "--weeks", "1", "--scale", "-1", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("simulate_traffic", "--weeks", "1", "--regions", "98", stdout=StringIO())
    out = StringIO()
    # A whole week, so that the window holds opening hours whatever the time of
    # day the test runs at (a tenth of a week ending at 07:00 held none).
    call_command("simulate_traffic", "--weeks", "1", "--regions", "21", stdout=out)
    assert "contacts=0 " not in out.getvalue(), out.getvalue()
    call_command("simulate_traffic", "--weeks", "1", "--regions", "21", "--if-empty", stdout=out)
    assert "skipped" in out.getvalue().splitlines()[-1]
