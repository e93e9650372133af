"""The second sign-in step and enrolment (django-otp TOTP, static backup codes).

Thin: each view checks who is signed in, calls django-otp and renders. Which
accounts need it and the gate itself are in helpdesk/two_factor.py.
"""

from __future__ import annotations

import base64
import io

import django_otp
import qrcode
import qrcode.image.svg
from django import forms
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from helpdesk import selectors
from helpdesk.two_factor import SETUP_PATH, VERIFY_PATH, requires_two_factor

BACKUP_CODES = 10


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/console/" if selectors.supporter_for_user(request.user) else "/admin/"


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@never_cache
@login_required
def verify(request):
    if not requires_two_factor(request.user) or request.user.is_verified():
        return redirect(_next_url(request))
    if not django_otp.user_has_device(request.user):
        return redirect(f"{SETUP_PATH}?next={request.GET.get('next', '')}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = django_otp.match_token(request.user, form.cleaned_data["token"].replace(" ", ""))
        if device is not None:
            django_otp.login(request, device)
            request.session.cycle_key()
            return redirect(_next_url(request))
        form.add_error("token", _("The code is wrong or has expired. Please try again."))
    return render(
        request, "helpdesk/two_factor_verify.html", {"form": form, "next": _next_url(request)}
    )


@never_cache
@login_required
def setup(request):
    """First sign-in: scan a QR code, confirm one code, receive backup codes once."""
    user = request.user
    if django_otp.user_has_device(user):
        return redirect(f"{VERIFY_PATH}?next={request.GET.get('next', '')}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"].replace(" ", "")):
            with transaction.atomic():
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                backup = StaticDevice.objects.create(user=user, name="backup codes")
                codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
                StaticToken.objects.bulk_create(
                    StaticToken(device=backup, token=code) for code in codes
                )
            django_otp.login(request, device)
            request.session.cycle_key()
            return render(
                request,
                "helpdesk/two_factor_backup.html",
                {"codes": codes, "next": _next_url(request)},
            )
        form.add_error("token", _("The code is wrong or has expired. Please try again."))
    secret = base64.b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "qr": _qr_data_uri(device.config_url),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "next": _next_url(request),
    }
    return render(request, "helpdesk/two_factor_setup.html", context)
