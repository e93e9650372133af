"""WebSocket URL routes (the consumers live in realtime/consumers/)."""

from django.conf import settings
from django.urls import path, re_path

from realtime.consumers.customer import CustomerConsumer
from realtime.consumers.supporter import SupporterConsumer

websocket_urlpatterns: list = [
    path("ws/contact/", CustomerConsumer.as_asgi()),
    path("ws/console/", SupporterConsumer.as_asgi()),
]

# The benchmark's bare relay is routed only when asked for (BENCH_ECHO=1).
if getattr(settings, "BENCH_ECHO", False):
    from realtime.consumers.bench_echo import BenchEchoConsumer

    websocket_urlpatterns.append(
        re_path(r"^ws/bench-echo/(?P<pair>[A-Za-z0-9_-]{1,40})/$", BenchEchoConsumer.as_asgi())
    )
