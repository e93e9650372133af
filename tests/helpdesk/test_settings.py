"""Settings come from the environment; production settings pass `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(env_extra: dict, *args: str) -> subprocess.CompletedProcess:
    """manage.py with the project's own settings and no DEBUG or SECRET_KEY unless given."""
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env["DJANGO_SETTINGS_MODULE"] = "helpdesk.settings"
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


PRODUCTION = {
    "SECRET_KEY": "x" * 20 + "a-long-random-production-like-secret-value-0123456789",
    "ALLOWED_HOSTS": "helpdesk.example",
    "CSRF_TRUSTED_ORIGINS": "https://helpdesk.example",
    "PUBLIC_BASE_URL": "https://helpdesk.example",
}


@pytest.mark.parametrize("debug", [{}, {"DEBUG": "0"}], ids=["unset", "0"])
def test_secret_key_is_required_unless_debug_is_on(debug):
    result = run({**debug, "ALLOWED_HOSTS": "helpdesk.example"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr and "DEBUG=1" in result.stderr


def test_the_development_key_is_refused_in_production():
    dev_key = "development-only-secret-key-change-me-in-production-0123456789"
    result = run({**PRODUCTION, "SECRET_KEY": dev_key}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    # With DEBUG=1 the development key is the default and works.
    assert run({"DEBUG": "1"}, "check").returncode == 0


def _settings_of(env_extra: dict, expression: str) -> str:
    code = f"import django;django.setup();from django.conf import settings as s;print({expression})"
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "BENCH_ECHO"}}
    env.update({"DJANGO_SETTINGS_MODULE": "helpdesk.settings", **env_extra})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_readme_production_command_needs_no_debug_switch():
    # README's command gives no DEBUG: production settings, the relay unrouted.
    out = _settings_of(
        PRODUCTION,
        "s.DEBUG, s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.BENCH_ECHO,"
        " any('bench-echo' in str(p.pattern) for p in"
        " __import__('realtime.routing').routing.websocket_urlpatterns)",
    )
    assert out == "False True True False False"


def test_the_bench_relay_is_routed_by_its_own_setting_only():
    routed = (
        "any('bench-echo' in str(p.pattern) for p in"
        " __import__('realtime.routing').routing.websocket_urlpatterns)"
    )
    assert _settings_of({"DEBUG": "1"}, routed) == "False"
    assert _settings_of({**PRODUCTION, "BENCH_ECHO": "1"}, routed) == "True"


@pytest.mark.parametrize("debug", [{}, {"DEBUG": "0"}], ids=["unset", "0"])
def test_deploy_check_is_clean_under_production_settings(debug):
    result = run(
        {
            **debug,
            "SECRET_KEY": "x" * 20 + "a-long-random-production-like-secret-value-0123456789",
            "ALLOWED_HOSTS": "helpdesk.example",
            "CSRF_TRUSTED_ORIGINS": "https://helpdesk.example",
            "PUBLIC_BASE_URL": "https://helpdesk.example",
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_embedded_default_uses_sqlite_and_the_in_memory_layer(tmp_path):
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'],"
        " s.TIME_ZONE, s.LANGUAGE_CODE, [c for c, _ in s.LANGUAGES], s.PHONE_ENABLED)"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"DJANGO_SETTINGS_MODULE": "helpdesk.settings", "HELPDESK_VAR_DIR": str(tmp_path)})
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "sqlite3" in out and "InMemoryChannelLayer" in out
    assert "Europe/Helsinki fi ['fi', 'sv', 'en'] False" in out


def test_redis_url_selects_the_pubsub_layer(tmp_path):
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.CHANNEL_LAYERS['default']['BACKEND'], s.DATABASES['default']['ENGINE'])"
    )
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "DATABASE_URL": "postgres://u@127.0.0.1:5432/x",
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "PipelinedPubSubChannelLayer" in out and "postgresql" in out
