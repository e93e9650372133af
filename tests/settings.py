"""Settings of the test session: the project's settings in development mode.

DEBUG is off by default (helpdesk/settings.py); the tests run the
development shape (loopback hosts, no HTTPS redirect, the development key)
unless the environment says otherwise. Django's test runner still runs each
test with settings.DEBUG False. Live servers the tests start inherit this
module through DJANGO_SETTINGS_MODULE; tests of the production defaults run
manage.py with helpdesk.settings (tests/helpdesk/test_settings.py).
"""

import os

os.environ.setdefault("DEBUG", "1")
# Many tests start contacts with one fixed customer key, and the limiter's
# counts live in the shared Redis for an hour: the per-browser limits are
# generous here and tested on their own (tests/helpdesk/test_api_limits.py).
os.environ.setdefault("CONTACT_CREATE_PER_KEY_RATE_LIMIT", "1000/minute")
# Likewise per address: every browser test's customer comes from 127.0.0.1, so
# live servers with the production 10 a minute would refuse a test's start
# whenever ten others started chats in the minute before it. The limit itself
# is tested with its own small value (tests/helpdesk/test_intake_asgi.py).
os.environ.setdefault("CONTACT_CREATE_RATE_LIMIT", "1000/minute")
os.environ.setdefault("CALLBACK_PER_TOKEN_RATE_LIMIT", "1000/minute")
# Parallel test processes (pytest -n): each has its own pub/sub namespace and
# presence keys, as it has its own test database. Servers a test starts inherit
# the environment, the worker's name included, and must land on the same prefix.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
_prefix = os.environ.get("CHANNEL_LAYER_PREFIX", "helpdesk")
if _worker and not _prefix.endswith(f"-{_worker}"):
    os.environ["CHANNEL_LAYER_PREFIX"] = f"{_prefix}-{_worker}"

from helpdesk.settings import *  # noqa: E402, F403
