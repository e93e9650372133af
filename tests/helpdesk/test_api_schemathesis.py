"""schemathesis against the OpenAPI schema: no generated request reaches a 5xx.

In-process through the WSGI app (the same views and middleware as served),
deterministic (derandomized) and bounded: a few dozen examples per operation,
positive and negative (schemathesis's generation modes), with and without a
contact token and a logged-in supporter's session.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.factories import make_provider, make_supporter
from tests.helpdesk.test_api import post_contact

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

EXAMPLES_PER_OPERATION = 20


@pytest.fixture
def api_schema(reference_data, settings):
    settings.CONTACT_CREATE_RATE_LIMIT = "100000/minute"
    settings.CALLBACK_RATE_LIMIT = "100000/minute"
    raw = json.loads(Client().get("/api/schema/", {"format": "json"}).content)
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = get_wsgi_application()
    return schema


@pytest.fixture
def credentials(client):
    """A real contact token and a supporter's session cookie, for a share of the cases."""
    created = post_contact(client, "10.77.0.1").json()
    supporter = make_supporter(providers=[make_provider(regions=["01"])])
    client.force_login(supporter.user)
    return {"token": created["token"], "session": client.cookies["sessionid"].value}


def test_no_generated_request_is_a_server_error(api_schema, credentials):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    app = get_wsgi_application()

    def run(operation, mode) -> None:
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode), authorised=st.booleans())
        def check(case, authorised):
            if authorised:
                case.headers = {**(case.headers or {}), "X-Contact-Token": credentials["token"]}
                case.cookies = {**(case.cookies or {}), "sessionid": credentials["session"]}
            response = case.call(app=app)
            if response.status_code >= 500:
                failures.append(
                    f"{operation.label}: {response.status_code} {case.as_curl_command()}"
                )

        check()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run(operation, mode)
    assert not failures, failures[:5]
