"""The per-socket moving window."""

import time

from realtime.ratelimit import MovingWindow, SocketRateLimit


def test_moving_window_allows_amount_then_refuses():
    window = MovingWindow("3/10second")
    assert [window.hit() for _ in range(5)] == [True, True, True, False, False]


def test_moving_window_frees_up_as_time_passes(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    window = MovingWindow("2/1second")
    assert window.hit()
    now[0] += 0.5
    assert window.hit() and not window.hit()
    now[0] += 0.3
    assert not window.hit()  # refused hits do not count
    now[0] += 0.21  # the first hit is now over a second old, the second is not
    assert window.hit() and not window.hit()


def test_socket_limits_are_independent(settings):
    settings.CHAT_RATE_LIMIT = "1/minute"
    a, b = SocketRateLimit(), SocketRateLimit()
    assert a.allow_store() and not a.allow_store()
    assert b.allow_store()
    assert a.allow_frame()
