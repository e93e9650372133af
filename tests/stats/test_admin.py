"""Shifts in the admin: a provider admin sees and edits their own providers' shifts only."""

from __future__ import annotations

from datetime import time

import pytest

from helpdesk.models import Role, RoleGrant
from helpdesk.stats.models import ShiftPattern
from tests.factories import make_provider, make_supporter, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def shifts(reference_data):
    mine = make_provider(name="Mine", regions=["12"])
    other = make_provider(name="Other", regions=["11"])
    a = make_supporter(providers=[mine], display_name="Alma")
    b = make_supporter(providers=[other], display_name="Bertil")
    own = ShiftPattern.objects.create(
        supporter=a, provider=mine, weekday=0, start=time(9), end=time(12)
    )
    foreign = ShiftPattern.objects.create(
        supporter=b, provider=other, weekday=1, start=time(9), end=time(12)
    )
    return mine, other, a, b, own, foreign


def test_provider_admin_manages_own_shifts_only(client, shifts):
    mine, other, a, b, own, foreign = shifts
    admin = make_user(is_staff=True)
    RoleGrant.objects.create(user=admin, role=Role.PROVIDER_ADMIN, provider=mine)
    client.force_login(admin)
    listing = client.get("/admin/stats/shiftpattern/")
    assert listing.status_code == 200
    assert "Alma" in listing.content.decode() and "Bertil" not in listing.content.decode()
    assert client.get(f"/admin/stats/shiftpattern/{foreign.pk}/change/").status_code in (302, 404)
    form = client.get("/admin/stats/shiftpattern/add/").content.decode()
    assert "Mine" in form and "Other" not in form
    response = client.post(
        "/admin/stats/shiftpattern/add/",
        {
            "supporter": a.pk,
            "provider": mine.pk,
            "weekday": 2,
            "start": "10:00",
            "end": "09:00",
            "channels": "[]",
        },
    )
    assert response.status_code == 200  # the form comes back with the error
    assert not ShiftPattern.objects.filter(weekday=2).exists()


def test_staff_without_a_role_sees_no_shifts(client, shifts):
    client.force_login(make_user(is_staff=True))
    assert client.get("/admin/stats/shiftpattern/").status_code == 403
