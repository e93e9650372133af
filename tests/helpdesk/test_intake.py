"""POST /api/contacts/ on the intake threads: a burst is created in parallel, all of it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from unittest import mock

import pytest
from channels.db import database_sync_to_async as adb
from django.test import AsyncClient

from helpdesk.models import Contact
from routing import services
from routing.workflows import ensure_default_workflows


@pytest.fixture
def intake(settings, reference_data, transactional_db):
    settings.CONTACT_INTAKE_THREADS = 3
    settings.CONTACT_CREATE_RATE_LIMIT = "100000/minute"
    ensure_default_workflows()


async def test_a_burst_is_created_on_the_intake_threads(intake):
    client = AsyncClient()
    threads: set[str] = set()
    real = services.enqueue_contact

    def recording(**kwargs):
        threads.add(threading.current_thread().name)
        return real(**kwargs)

    async def one(n: int):
        body = {"language": "fi", "municipality": "091", "consent": True}
        ip = f"10.{n}.{uuid.uuid4().int % 250}.1"
        return await client.post(
            "/api/contacts/", body, content_type="application/json", REMOTE_ADDR=ip
        )

    with mock.patch("helpdesk.views.api.enqueue_contact", side_effect=recording):
        responses = await asyncio.gather(*(one(n) for n in range(12)))
    assert [r.status_code for r in responses] == [201] * 12
    ids = {r.json()["contact"]["id"] for r in responses}
    assert len(ids) == 12
    assert await adb(Contact.objects.filter(public_id__in=ids).count)() == 12
    assert threads and all(name.startswith("contact-intake") for name in threads), threads
    # Errors still come from the same view: bad input is a clear 400.
    bad = await client.post(
        "/api/contacts/",
        {"consent": False},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.9",
    )
    assert bad.status_code == 400 and "error" in bad.json()
