"""Pictures (and, from supporters, PDFs) sent in a chat.

The files live under ATTACHMENT_ROOT, outside MEDIA_ROOT: no URL reaches them
except the authorised views in helpdesk/views/attachments.py. The retention
purge deletes rows and files with the contact's messages.
"""

from __future__ import annotations

import os
import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.translation import gettext_lazy as _


class AttachmentStorage(FileSystemStorage):
    """A file system storage rooted at ATTACHMENT_ROOT, read when used (tests move it)."""

    @property
    def base_location(self):
        return str(settings.ATTACHMENT_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    @property
    def base_url(self):
        return None  # never served by URL

    def url(self, name):
        raise ValueError("attachments have no public URL")


def attachment_storage() -> AttachmentStorage:
    return AttachmentStorage()


class Attachment(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", _("picture")
        PDF = "pdf", _("PDF document")

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    contact = models.ForeignKey(
        "helpdesk.Contact",
        verbose_name=_("contact"),
        related_name="attachments",
        on_delete=models.CASCADE,
    )
    supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("sent by supporter"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        help_text=_("Empty when the customer sent it."),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    content_type = models.CharField(_("content type"), max_length=40)
    size = models.PositiveIntegerField(_("size in bytes"))
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    file = models.FileField(_("file"), storage=attachment_storage, max_length=200)
    thumbnail = models.FileField(
        _("thumbnail"), storage=attachment_storage, max_length=200, blank=True
    )
    thumbnail_type = models.CharField(_("thumbnail content type"), max_length=40, blank=True)
    message_seq = models.PositiveIntegerField(_("message sequence number"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["contact", "created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"
