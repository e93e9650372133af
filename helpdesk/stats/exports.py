"""The dashboard's tables as CSV and XLSX: the same rows the page and the API show.

A table is a title, columns (key, label) and rows of dicts. Suppressed
values are None and written as empty cells; the `suppressed` column says why.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook

FIGURE_LABELS = {
    "arrivals": _("Contacts"),
    "answered": _("Answered"),
    "abandoned": _("Abandoned"),
    "abandon_rate": _("Abandonment rate"),
    "service_level_60s": _("Answered within 60 s"),
    "wait_mean_s": _("Mean wait (s)"),
    "wait_p50_s": _("Median wait (s)"),
    "wait_p90_s": _("Wait, 90th percentile (s)"),
    "abandon_wait_mean_s": _("Mean wait before abandoning (s)"),
    "first_response_mean_s": _("Mean first response, chat (s)"),
    "handle_mean_s": _("Mean handle time (s)"),
    "transfers": _("Transfers"),
    "escalations": _("Escalations to Kansalaisneuvonta"),
    "solved": _("Solved"),
    "partly": _("Partly solved"),
    "referred": _("Referred elsewhere"),
    "not_solved": _("Not solved"),
    "message_left": _("Message left"),
    "can_do_alone": _("Can now do it alone"),
    "feedback_n": _("Feedback given"),
    "rating_mean": _("Mean rating (1–5)"),
    "suppressed": _("Hidden (fewer than 5 contacts)"),
    "share": _("Share"),
}
FIGURES = tuple(k for k in FIGURE_LABELS if k not in ("share", "suppressed"))


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: Sequence[tuple[str, str]]
    rows: Sequence[dict]


def _fig_columns(*extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        *extra,
        *((k, FIGURE_LABELS[k]) for k in FIGURES),
        ("suppressed", FIGURE_LABELS["suppressed"]),
    ]


def tables(
    figures: dict, coverage: dict | None = None, plan=None, need_supply: list | None = None
) -> dict[str, Table]:
    out = {
        "regions": Table(
            "regions",
            str(_("By region")),
            _fig_columns(
                ("code", str(_("Region code"))),
                ("label", str(_("Region"))),
                ("population", str(_("Population"))),
                ("per_1000_per_week", str(_("Contacts per 1,000 inhabitants per week"))),
            ),
            figures["regions"],
        ),
        "volume": Table(
            "volume", str(_("By day")), _fig_columns(("date", str(_("Date")))), figures["volume"]
        ),
        "heatmap": Table(
            "heatmap",
            str(_("By weekday and hour")),
            [
                ("weekday", str(_("Weekday (0 = Monday)"))),
                ("hour", str(_("Hour"))),
                ("arrivals", str(_("Contacts"))),
                ("suppressed", str(FIGURE_LABELS["suppressed"])),
            ],
            figures["heatmap"],
        ),
        "topics": Table(
            "topics",
            str(_("By topic")),
            _fig_columns(("label", str(_("Topic"))), ("share", str(_("Share")))),
            figures["topics"],
        ),
        "channels": Table(
            "channels",
            str(_("By channel")),
            _fig_columns(("label", str(_("Channel"))), ("share", str(_("Share")))),
            figures["channels"],
        ),
        "providers": Table(
            "providers",
            str(_("By provider")),
            _fig_columns(("label", str(_("Provider"))), ("share", str(_("Share")))),
            figures["providers"],
        ),
    }
    if coverage is not None:
        out["coverage"] = Table(
            "coverage",
            str(_("Coverage by municipality")),
            [
                ("municipality_code", str(_("Code"))),
                ("municipality", str(_("Municipality"))),
                ("region_code", str(_("Region code"))),
                ("population", str(_("Population"))),
                ("language_status", str(_("Official language status"))),
                ("providers", str(_("Providers"))),
                ("channels", str(_("Channels"))),
                ("languages", str(_("Languages"))),
                ("missing_channels", str(_("Channels missing"))),
                ("swedish_gap", str(_("No service in Swedish"))),
            ],
            coverage["municipalities"],
        )
    if need_supply is not None:
        out["need_supply"] = Table(
            "need_supply",
            str(_("Need and planned supply by region, next 7 days")),
            [
                ("code", str(_("Region code"))),
                ("label", str(_("Region"))),
                ("forecast_contacts_week", str(_("Forecast contacts"))),
                ("supporter_hours_needed", str(_("Supporter-hours needed"))),
                ("supporter_hours_planned", str(_("Supporter-hours planned"))),
                ("gap_hours", str(_("Planned minus needed"))),
                ("hours_short", str(_("Hours with too few supporters"))),
            ],
            need_supply,
        )
    if plan is not None and plan.staffing:
        out["staffing"] = Table(
            "staffing",
            str(_("Staffing need and planned supply")),
            [
                ("hour_start", str(_("Hour"))),
                ("arrivals", str(_("Forecast contacts"))),
                ("agents", str(_("Supporters needed"))),
                ("service_level", str(_("Service level with them"))),
                ("planned", str(_("Supporters planned"))),
                ("gap", str(_("Planned minus needed"))),
            ],
            plan.staffing,
        )
        out["forecast"] = Table(
            "forecast",
            str(_("Forecast")),
            [
                ("hour_start", str(_("Hour"))),
                ("mean", str(_("Forecast"))),
                ("lower", str(_("Lower bound (80 %)"))),
                ("upper", str(_("Upper bound (80 %)"))),
            ],
            plan.forecast,
        )
        out["backtest"] = Table(
            "backtest",
            str(_("Forecast against actuals, last 7 days")),
            [
                ("hour_start", str(_("Hour"))),
                ("actual", str(_("Actual"))),
                ("mean", str(_("Forecast"))),
                ("lower", str(_("Lower bound (80 %)"))),
                ("upper", str(_("Upper bound (80 %)"))),
                ("online", str(_("Supporter-hours online (measured)"))),
                ("suppressed", str(FIGURE_LABELS["suppressed"])),
            ],
            plan.backtest,
        )
    return out


def _cell(value):
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) or value is None:
        return value
    value = str(value)
    # A name typed in the admin must not run as a spreadsheet formula.
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        value = "'" + value
    return value


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([str(label) for _key, label in table.columns])
    for row in table.rows:
        writer.writerow(
            ["" if row.get(k) is None else _cell(row.get(k)) for k, _label in table.columns]
        )
    return buffer.getvalue()


def to_xlsx(tables_: Sequence[Table]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for table in tables_:
        sheet = book.create_sheet(title=table.name[:31])
        sheet.append([str(label) for _key, label in table.columns])
        for row in table.rows:
            sheet.append([_cell(row.get(k)) for k, _label in table.columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
