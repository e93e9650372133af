"""ASGI entry point: HTTP through Django, WebSockets through Channels.

The outer wrapper also answers the ASGI lifespan protocol so that each worker
process starts (and cleanly stops) its routing ticker; see routing.ticker.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from helpdesk.intake_asgi import ContactIntakeRouter  # noqa: E402
from helpdesk.lifespan import LifespanMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from realtime.socket_auth import socket_auth_stack  # noqa: E402
from realtime.telephony.lean_asgi import VoiceWebhookRouter  # noqa: E402

application = LifespanMiddleware(
    ProtocolTypeRouter(
        {
            # Twilio's voice webhooks and contact creation take short paths of
            # their own (lean_asgi.py, intake_asgi.py).
            "http": ContactIntakeRouter(VoiceWebhookRouter(django_asgi_app)),
            "websocket": AllowedHostsOriginValidator(
                socket_auth_stack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
