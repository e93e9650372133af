"""The `queue.closed` frame: what a waiting customer is told when nobody is open.

Built in one place for the routing round, which publishes it when it finds a
contact's queue closed, and for the customer's socket, which repeats it after
a welcome while the notice stands (realtime/consumers/customer.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings


def closed_frame(
    *, public_id: uuid.UUID | str, opens_at: datetime | None, municipality_code: str | None
) -> dict[str, Any]:
    near = settings.HELP_POINTS_URL
    if municipality_code:
        near = f"{near}?municipality={municipality_code}"
    return {
        "type": "queue.closed",
        "contact": str(public_id),
        "opens_at": opens_at.isoformat() if opens_at else None,
        "help_points_url": near,
    }
