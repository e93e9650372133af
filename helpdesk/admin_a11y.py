"""What the stock Django admin leaves out for screen readers, added for every model admin.

A tabular inline shows its field names only once, as column headings, so each
input in its rows has no label of its own (axe: `label`, `select-name`). The
inputs get an `aria-label` with their field's name, and the "delete" box
says what it deletes. The CSS and script that go with it are static files
(CSP: no inline code): helpdesk/static/helpdesk/admin.css and admin-a11y.js.
"""

from __future__ import annotations

from django.contrib.admin.options import InlineModelAdmin
from django.forms.models import BaseInlineFormSet
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

ADMIN_MEDIA_CSS = {"all": ["helpdesk/admin.css"]}
ADMIN_MEDIA_JS = ["helpdesk/admin-a11y.js"]


def _label(widget, text) -> None:
    if "aria-label" not in widget.attrs:
        widget.attrs["aria-label"] = text


class LabelledInlineFormSet(BaseInlineFormSet):
    """The row's delete box says which row it deletes (the heading says only "Delete?")."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        delete = form.fields.get("DELETE")
        if delete is not None:
            _label(delete.widget, _("Delete this row"))


class LabelledFieldsMixin:
    """Each input of an inline row is labelled with its field's name."""

    formset = LabelledInlineFormSet

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and isinstance(self, InlineModelAdmin):
            name = field.label or capfirst(db_field.verbose_name)
            _label(field.widget, name)
            # Related-field wrappers draw the inner widget.
            inner = getattr(field.widget, "widget", None)
            if inner is not None:
                _label(inner, name)
        return field
