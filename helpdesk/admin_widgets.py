"""Admin form widgets that fit how coordinators write times.

Opening hours and shifts are kept to the minute, but Django's time input shows
the first input format of the language, which carries seconds ("09.00.00" in
Finnish). The widget shows the first format of the language without seconds
("09.00", "09:00"); every format the language accepts is still parsed.
"""

from __future__ import annotations

import datetime

from django.contrib.admin.widgets import AdminTimeWidget
from django.utils.formats import get_format


def minute_format() -> str:
    return next((f for f in get_format("TIME_INPUT_FORMATS") if "%S" not in f), "%H:%M")


class MinuteTimeWidget(AdminTimeWidget):
    def format_value(self, value):
        if isinstance(value, datetime.time):
            return value.strftime(minute_format())
        return super().format_value(value)
