"""Signing in to the console, the step most browser tests begin with."""

from __future__ import annotations

import re

from helpdesk.demo import demo_password

TIMEOUT_MS = 30_000


def sign_in(
    page, base_url: str, username: str, password: str | None = None, *, then: str = ""
) -> None:
    """Signs `username` in on the console's login page and waits for the page it leads to
    (the console, or `then`, a path such as /stats/). The password is the demo data's
    unless given (tests.factories.PASSWORD for users the factories made)."""
    page.goto(f"{base_url}/console/login/" + (f"?next={then}" if then else ""))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password or demo_password())
    page.get_by_role("button", name=re.compile("Kirjaudu|Sign in|Logga in")).click()
    page.wait_for_url(re.compile(re.escape(then) if then else r"/console/$"), timeout=TIMEOUT_MS)
