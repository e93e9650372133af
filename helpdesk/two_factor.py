"""Two-factor authentication (django-otp): who must use it, and the gate that enforces it.

National admins, coordinators, provider admins, superusers and staff
supporters (who see callback numbers: CUSTOMER_DETAILS_VIEW) sign in with a
password and then a TOTP code from an authenticator app, or one of their
single-use backup codes. Until the second step a session is not trusted for
anything: console and admin pages lead to the token step (or to enrolment the
first time), every other request is served as if signed out, and the console
WebSocket is refused. Volunteers, who never see a customer's identity, sign
in with a password only.

With DEBUG on, TWO_FACTOR_EXEMPT_DEMO_USERS exempts the demo network's logins
(`make serve` says so when it prints them); production never exempts anyone.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.shortcuts import redirect
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

log = logging.getLogger(__name__)

VERIFY_PATH = "/account/2fa/"
SETUP_PATH = "/account/2fa/setup/"
# Reachable before the second step: the step itself, signing out, assets.
OPEN_PREFIXES = (
    "/account/2fa/",
    "/console/logout/",
    "/admin/logout/",
    "/static/",
    "/i18n/",
    "/healthz",
    "/favicon.ico",
)
# Pages that lead to the token step instead of answering as if signed out.
GATED_PAGES = ("/console/", "/admin/", "/kb/review/", "/kb/good-practices/")


def _demo_exempt(user) -> bool:
    if not (settings.DEBUG and settings.TWO_FACTOR_EXEMPT_DEMO_USERS):
        return False
    from helpdesk.demo import demo_usernames

    return user.get_username() in demo_usernames()


def requires_two_factor(user, *, actor=None) -> bool:
    """Must this account pass a second factor? (cached on the user object)

    `actor`, the user's helpdesk.permissions.Actor when the caller has just
    built it, answers without a query of its own (a console socket opening).
    """
    if user is None or not user.is_authenticated:
        return False
    cached = getattr(user, "_requires_two_factor", None)
    if cached is not None:
        return cached
    if actor is not None and actor.user_id != user.pk:
        raise ValueError("the actor is not this user's")
    if not settings.TWO_FACTOR_REQUIRED:
        needed = False
    elif actor is not None:
        needed = user.is_superuser or actor.has_role_grants or actor.supporter_kind == "staff"
    else:
        from helpdesk.models import RoleGrant, Supporter

        needed = (
            user.is_superuser
            or RoleGrant.objects.filter(user=user).exists()
            or Supporter.objects.filter(user=user, kind="staff").exists()
        )
    if needed and _demo_exempt(user):
        needed = False
    user._requires_two_factor = needed
    return needed


def session_verified(user, session) -> bool:
    """Has this session passed the second step with one of the user's own devices?"""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id)
    return device is not None and device.user_id == user.pk and device.confirmed


def trusted(user, session, *, actor=None) -> bool:
    """May this signed-in session act? (sync; consumers wrap it in a DB thread)"""
    return not requires_two_factor(user, actor=actor) or session_verified(user, session)


class TwoFactorMiddleware:
    """After django-otp's OTPMiddleware: a session without its second step acts as signed out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path_info.startswith(OPEN_PREFIXES)
            and requires_two_factor(user)
            and not user.is_verified()
        ):
            if request.path_info.startswith(GATED_PAGES) and request.method in ("GET", "HEAD"):
                return redirect(f"{VERIFY_PATH}?next={quote(request.get_full_path())}")
            log.info("request without second factor served as anonymous: user %s", user.pk)
            request.user = AnonymousUser()
        return self.get_response(request)
