"""OpenAPI entries for the JSON endpoints that are plain Django views.

The two knowledge endpoints below, and the video device check
(/api/device-check/, an async view).


/kb/api/for-topic and /kb/<slug>/helpful/ answer HTML to pages and JSON to
scripts (customer.js asks with Accept: application/json); they are not DRF views,
so drf-spectacular cannot see them. This postprocessing hook describes them, so
that the schema lists every endpoint. tests/knowledge/test_schema.py checks the
paths against the URL resolver.
"""

from __future__ import annotations

_CARD = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "slug": {"type": "string"},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "url": {"type": "string"},
        "language": {"type": "string"},
    },
}
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}

_JSON_ERROR = {"application/json": {"schema": _ERROR}}


def add_plain_view_endpoints(result, generator, request, public):
    paths = result.setdefault("paths", {})
    paths["/kb/api/for-topic"] = {
        "get": {
            "operationId": "kb_for_topic",
            "summary": "Customer guides for a topic",
            "description": "The top customer guides for a topic: an HTML fragment, or JSON "
            "with Accept: application/json or format=json. Anyone may ask.",
            "tags": ["kb"],
            "parameters": [
                {"name": "topic", "in": "query", "schema": {"type": "string"}},
                {"name": "lang", "in": "query", "schema": {"enum": ["fi", "sv", "en"]}},
                {"name": "format", "in": "query", "schema": {"enum": ["json"]}},
            ],
            "security": [{}],
            "responses": {
                "200": {
                    "description": "Up to three guides (none for an unknown topic)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"articles": {"type": "array", "items": _CARD}},
                            }
                        },
                        "text/html": {"schema": {"type": "string"}},
                    },
                }
            },
        }
    }
    paths["/kb/{slug}/helpful/"] = {
        "post": {
            "operationId": "kb_helpful_vote",
            "summary": "Was this guide helpful?",
            "description": "One vote per browser session and guide, no login. Answers JSON "
            "with Accept: application/json, else redirects back to the guide. Needs the "
            "CSRF cookie and token like every form.",
            "tags": ["kb"],
            "parameters": [
                {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["helpful"],
                            "properties": {
                                "helpful": {"enum": ["yes", "no"]},
                                "language": {"enum": ["fi", "sv", "en"]},
                            },
                        }
                    }
                }
            },
            "security": [{}],
            "responses": {
                "200": {
                    "description": "Vote counted",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}
                        }
                    },
                },
                "302": {"description": "Back to the guide (without Accept: application/json)"},
                "400": {"description": "Not yes or no", "content": _JSON_ERROR},
                "404": {"description": "No such guide", "content": _JSON_ERROR},
                "409": {"description": "Already voted", "content": _JSON_ERROR},
            },
        }
    }
    paths["/api/device-check/"] = {
        "post": {
            "operationId": "device_check_offer",
            "summary": "Try camera and microphone against the server (WebRTC loopback)",
            "description": "Public and rate-limited per address; no contact needed "
            "(helpdesk/views/device_check.py). Send a WebRTC offer, receive the answer.",
            "tags": ["video"],
            "security": [{}],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["type", "sdp"],
                            "properties": {"type": {"enum": ["offer"]}, "sdp": {"type": "string"}},
                        }
                    }
                }
            },
            "responses": {
                "200": {
                    "description": "The answer",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "type": {"enum": ["answer"]},
                                    "sdp": {"type": "string"},
                                    "check": {"type": "string"},
                                    "duration_s": {"type": "number"},
                                },
                            }
                        }
                    },
                },
                "400": {"description": "Not a valid offer", "content": _JSON_ERROR},
                "429": {"description": "Too many checks from this address", "content": _JSON_ERROR},
                "503": {"description": "The server is busy; try again", "content": _JSON_ERROR},
            },
        }
    }
    return result
