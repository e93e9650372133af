"""Content-Security-Policy on every page, the widget's framing, the docs and the favicon."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import make_provider

PAGES = [
    "/",
    "/chat/",
    "/near/",
    "/privacy/",
    "/kb/",
    "/console/login/",
    "/admin/login/",
    "/api/docs/",
    "/widget/",
    "/widget/chat/",
    "/widget-demo/",
]


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    policy = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy[words[0]] = words[1:]
    return policy


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_a_policy_without_inline_script(client, reference_data, url):
    response = client.get(url)
    assert response.status_code == 200, url
    policy = _policy(response)
    assert policy["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert {"ws://testserver", "wss://testserver", "'self'"} <= set(policy["connect-src"])
    assert policy["object-src"] == ["'none'"]
    html = response.content.decode()
    # Nothing inline that the policy would block: no executable inline script,
    # no on*= handlers, no style attributes or elements.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), url
    assert not re.search(r"<[^>]+\sstyle\s*=", html), url
    assert "<style" not in html, url
    # Nothing from another origin.
    assert not re.search(r"""<[a-z][^>]*\s(src|href)=["']https?://""", html), url


@pytest.mark.django_db
def test_only_the_widget_may_be_framed_and_only_by_its_sites(client, reference_data, settings):
    assert _policy(client.get("/"))["frame-ancestors"] == ["'none'"]
    assert _policy(client.get("/console/login/"))["frame-ancestors"] == ["'none'"]
    settings.WIDGET_FRAME_ANCESTORS = ["https://kunta.example.fi"]
    provider = make_provider(name="Kirjasto", website="https://kirjasto.example.fi/aukiolo")
    for url in ("/widget/", "/widget/chat/"):
        ancestors = _policy(client.get(url, {"provider": provider.slug}))["frame-ancestors"]
        assert ancestors == ["'self'", "https://kunta.example.fi", "https://kirjasto.example.fi"]
        ancestors = _policy(client.get(url))["frame-ancestors"]
        assert ancestors == ["'self'", "https://kunta.example.fi"]


@pytest.mark.django_db
def test_extra_connect_sources_come_from_settings(client, reference_data, settings):
    directives = dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])
    directives["connect-src"] = [*directives["connect-src"], "wss://voice.example.com"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": directives}
    assert "wss://voice.example.com" in _policy(client.get("/"))["connect-src"]


@pytest.mark.django_db
def test_api_docs_are_served_from_our_own_files(client):
    html = client.get("/api/docs/").content.decode()
    sources = re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']([^"']+)""", html)
    assert sources and all(s.startswith("/") for s in sources), sources
    for src in sources:
        if "script" in src:
            init = client.get(src)
            assert init.status_code == 200 and "SwaggerUIBundle" in init.content.decode()
    assert any("swagger-ui-bundle.js" in s for s in sources)


def test_favicon_answers(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/vnd.microsoft.icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"


def _endpoints(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _endpoints(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def _openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).lstrip("^").rstrip("$")


@pytest.mark.django_db
def test_every_api_endpoint_is_in_the_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = set(schema["paths"])
    wanted = set()
    for route, entry in _endpoints():
        path = _openapi_path(route)
        is_drf = hasattr(entry.callback, "cls")
        is_json = path.startswith(("/api/", "/kb/api/")) or path.endswith("/helpful/")
        if (is_drf or is_json) and path not in ("/api/schema/", "/api/docs/"):
            wanted.add(path)
    assert {"/kb/api/for-topic", "/kb/{slug}/helpful/", "/api/contacts/"} <= wanted
    assert wanted <= paths, wanted - paths
