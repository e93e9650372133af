"""The Prometheus endpoint: protected, off by default, and the figures it reports."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from helpdesk import metrics
from helpdesk.logging_context import ContextFilter, JsonFormatter
from tests.realtime.helpers import make_contact


@pytest.mark.django_db
def test_metrics_are_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_LOOPBACK = False
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_metrics_need_the_bearer_token(client, reference_data, settings):
    settings.METRICS_TOKEN = "s3cret-token-for-prometheus"
    settings.METRICS_ALLOW_LOOPBACK = False
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    make_contact(state="waiting")
    make_contact(state="waiting")
    make_contact(state="ended")
    metrics.error("socket", "not_allowed")
    metrics.ROUTING_ROUND_SECONDS.observe(0.02)
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-for-prometheus")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'helpdesk_waiting_contacts{channel="chat",region="01"} 2.0' in text
    assert 'helpdesk_errors_total{code="not_allowed",source="socket"}' in text
    assert "helpdesk_routing_round_seconds_bucket" in text
    for name in ("helpdesk_message_store_seconds", "helpdesk_message_delivery_seconds"):
        assert f"{name}_bucket" in text
    assert "helpdesk_open_sockets" in text


@pytest.mark.django_db
def test_loopback_only_when_allowed_and_not_through_a_proxy(reference_data, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_LOOPBACK = True
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    proxied = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert proxied.get("/metrics").status_code == 401
    assert Client(REMOTE_ADDR="198.51.100.2").get("/metrics").status_code == 401


@pytest.mark.django_db
def test_api_errors_are_counted_by_code(client):
    before = metrics.ERRORS.labels("api", "forbidden")._value.get()
    client.get("/api/me")
    assert metrics.ERRORS.labels("api", "forbidden")._value.get() == before + 1


@pytest.mark.django_db
def test_requests_carry_an_id_into_their_log_lines(client, caplog):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="proxy-id-12345678")
    assert response["X-Request-ID"] == "proxy-id-12345678"
    assert len(client.get("/healthz", HTTP_X_REQUEST_ID="bad id!")["X-Request-ID"]) == 16
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    ContextFilter().filter(record)
    line = JsonFormatter().format(record)
    assert '"msg": "hello world"' in line and '"request_id": "-"' in line
