"""Mounted at /telephony/: Twilio's voice webhooks and the console's phone endpoints."""

from django.urls import path

from realtime.telephony import views, warm_views, warm_webhooks, webhooks

urlpatterns = [
    path("voice/incoming", webhooks.incoming, name="voice-incoming"),
    path("voice/menu/<str:stage>", webhooks.menu, name="voice-menu"),
    path("voice/closed", webhooks.closed, name="voice-closed"),
    path("voice/wait", webhooks.wait, name="voice-wait"),
    path("voice/wait-key", webhooks.wait_key, name="voice-wait-key"),
    path("voice/queue-done", webhooks.queue_done, name="voice-queue-done"),
    path("voice/bridge", webhooks.bridge, name="voice-bridge"),
    path("voice/hold", webhooks.hold, name="voice-hold"),
    path("voice/callback-answer/<int:pk>", webhooks.callback_answer, name="voice-callback-answer"),
    path("voice/dial-done", webhooks.dial_done, name="voice-dial-done"),
    path("voice/status", webhooks.status, name="voice-status"),
    path("status", views.phone_status, name="phone-status"),
    path("token", views.token, name="phone-token"),
    path("contacts/<str:public_id>/connect", views.connect, name="phone-connect"),
    path("contacts/<str:public_id>/hold", views.hold, name="phone-hold"),
]

# Warm transfer (realtime/telephony/warm.py): Twilio's side, then the console's.
urlpatterns += [
    path("voice/transfer/<int:pk>/caller", warm_webhooks.caller, name="voice-transfer-caller"),
    path("voice/transfer/<int:pk>/over", warm_webhooks.over, name="voice-transfer-over"),
    path(
        "voice/transfer/<int:pk>/leg/<str:role>",
        warm_webhooks.leg_status,
        name="voice-transfer-leg-status",
    ),
    path("voice/transfer/<int:pk>/<str:role>", warm_webhooks.leg, name="voice-transfer-leg"),
    path(
        "contacts/<str:public_id>/warm-transfer",
        warm_views.start,
        name="phone-warm-transfer",
    ),
    path("transfers", warm_views.open_transfers, name="phone-transfers"),
    path("transfers/<int:pk>/<str:action>", warm_views.act, name="phone-transfer-action"),
]
