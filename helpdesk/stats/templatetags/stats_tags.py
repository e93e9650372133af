"""Template helpers of the statistics pages: a table cell from a row and a column key."""

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def cell(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return number_format(value, 2 if abs(value) < 10 else 1)
    return str(value)


@register.filter
def percent(value) -> str:
    if value is None:
        return "–"
    return f"{number_format(value * 100, 1)} %"
