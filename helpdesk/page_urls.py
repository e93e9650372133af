"""Customer pages, the embeddable widget and the supporter console."""

from django.urls import path

from helpdesk.views import console, device_check, public, two_factor

urlpatterns = [
    path("", public.start, name="start"),
    path("chat/", public.chat, name="chat"),
    path("near/", public.near, name="near"),
    path("privacy/", public.privacy, name="privacy"),
    path("accessibility/", public.accessibility, name="accessibility"),
    path("widget/", public.widget_start, name="widget"),
    path("widget/chat/", public.widget_chat, name="widget-chat"),
    path("widget-demo/", public.widget_demo, name="widget-demo"),
    path("device-check/", device_check.device_check_page, name="device-check"),
    path("console/", console.console, name="console"),
    path("console/login/", console.LoginView.as_view(), name="login"),
    path("console/logout/", console.LogoutView.as_view(), name="logout"),
    path("account/2fa/", two_factor.verify, name="two-factor-verify"),
    path("account/2fa/setup/", two_factor.setup, name="two-factor-setup"),
]
