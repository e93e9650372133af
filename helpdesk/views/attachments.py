"""Pictures and PDFs in a chat over HTTP: thin adapters over services/attachments.py.

Uploads and downloads go over HTTP, not the WebSocket: a picture is too big
for a frame. The customer proves access with the contact token (header
X-Contact-Token, as every customer endpoint); a supporter with the session
and by serving (or having served) the contact. Files are never reachable by
a public URL: every read goes through these views.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from limits import parse
from rest_framework import serializers as drf
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from helpdesk.models import Assignment, Attachment
from helpdesk.services import attachments as service
from helpdesk.services.errors import InvalidInput, NotAllowed, NotFound
from helpdesk.views.api import (
    CustomerAPIView,
    PerIPThrottle,
    SupporterAPIView,
    _customer_contact,
    _errors,
    _parse_public_id,
    _supporter,
    _token_parameter,
)

log = logging.getLogger(__name__)

_upload_request = inline_serializer(
    "AttachmentUpload",
    {
        "file": drf.FileField(help_text="JPEG, PNG, WebP or GIF (supporters: or a PDF)."),
        "client_msg_id": drf.CharField(required=False, help_text="For idempotent resends."),
    },
)
_upload_response = inline_serializer(
    "AttachmentAck",
    {
        "contact": drf.CharField(),
        "client_msg_id": drf.CharField(),
        "seq": drf.IntegerField(),
        "message": drf.DictField(),
    },
)
_size_parameter = OpenApiParameter(
    "size", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=["thumb"], required=False
)


class AttachmentThrottle(PerIPThrottle):
    """Uploads per contact (not per address: a family may share one)."""

    setting = "ATTACHMENT_RATE_LIMIT"
    default_rate = "6/minute"
    scope = "attachment"

    def limit(self, request, view):
        item = parse(getattr(settings, self.setting, self.default_rate))
        return item, self.scope, str(view.kwargs.get("public_id", ""))[:64] or "unknown"

    def retry_after(self, item, scope, ident) -> float:
        return float(item.get_expiry())


def _read_upload(request) -> tuple[bytes, str | None, str | None, str | None]:
    upload = request.FILES.get("file")
    if upload is None:
        raise InvalidInput("send the file in the form field 'file'", code="empty")
    if upload.size is not None and upload.size > settings.ATTACHMENT_MAX_BYTES:
        error = InvalidInput(
            f"the file is over {settings.ATTACHMENT_MAX_BYTES} bytes", code="too_large"
        )
        error.http_status = 413
        raise error
    data = upload.read(settings.ATTACHMENT_MAX_BYTES + 1)
    client_msg_id = request.data.get("client_msg_id") or None
    return data, upload.content_type, upload.name, client_msg_id


def _ack(result) -> Response:
    return Response(
        {
            "contact": result.contact,
            "client_msg_id": result.client_msg_id,
            "seq": result.seq,
            "duplicate": result.duplicate,
            "message": result.message,
        },
        status=status.HTTP_200_OK if result.duplicate else status.HTTP_201_CREATED,
    )


def _file_response(attachment: Attachment, size: str | None) -> FileResponse:
    thumb = size == "thumb" and attachment.thumbnail
    field = attachment.thumbnail if thumb else attachment.file
    content_type = attachment.thumbnail_type if thumb else attachment.content_type
    try:
        handle = field.open("rb")
    except (FileNotFoundError, ValueError):
        raise NotFound("The file is no longer kept.") from None
    response = FileResponse(handle, content_type=content_type)
    disposition = "attachment" if attachment.kind == Attachment.Kind.PDF else "inline"
    extension = field.name.rsplit(".", 1)[-1]
    filename = f"digituki-{attachment.pk}.{extension}"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class ContactAttachmentsView(CustomerAPIView):
    parser_classes = [MultiPartParser]
    throttle_classes = [AttachmentThrottle]

    @extend_schema(
        summary="Send a picture in the chat (customer)",
        description=(
            "The content decides: it must be a JPEG, PNG, WebP or GIF picture whose name and "
            "Content-Type, when given, agree with it. It is re-encoded without metadata and "
            "posted as a message of kind `file`."
        ),
        parameters=[_token_parameter],
        request={"multipart/form-data": _upload_request},
        responses={201: _upload_response, 200: _upload_response} | _errors,
        auth=[],
    )
    def post(self, request, public_id: str):
        contact = _customer_contact(request, public_id)
        data, content_type, name, client_msg_id = _read_upload(request)
        result = service.send_attachment(
            contact_id=contact.pk,
            data=data,
            client_msg_id=client_msg_id,
            declared_type=content_type,
            declared_name=name,
        )
        return _ack(result)


class ContactAttachmentView(CustomerAPIView):
    @extend_schema(
        summary="A picture or PDF of the chat (customer), or its thumbnail",
        parameters=[_token_parameter, _size_parameter],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY} | _errors,
        auth=[],
    )
    def get(self, request, public_id: str, attachment_id: str):
        contact = _customer_contact(request, public_id)
        attachment = service.attachment_for(contact=contact, public_id=attachment_id)
        if attachment is None:
            raise NotFound("No such file.")
        return _file_response(attachment, request.query_params.get("size"))


def _supporter_contact(request, public_id: str):
    """The contact, if the signed-in supporter serves it or has served it."""
    from helpdesk.models import Contact

    supporter = _supporter(request)
    contact = Contact.objects.filter(public_id=_parse_public_id(public_id)).first()
    if contact is None:
        raise NotFound("No such contact.")
    served = (
        contact.supporter_id == supporter.pk
        or Assignment.objects.filter(contact=contact, supporter=supporter).exists()
    )
    if not served:
        raise NotAllowed("Only a supporter who serves this contact may see its files.")
    return supporter, contact


class ConsoleAttachmentsView(SupporterAPIView):
    parser_classes = [MultiPartParser]
    throttle_classes = [AttachmentThrottle]

    @extend_schema(
        summary="Send a picture or PDF in the chat (the serving supporter)",
        request={"multipart/form-data": _upload_request},
        responses={201: _upload_response, 200: _upload_response} | _errors,
    )
    def post(self, request, public_id: str):
        supporter, contact = _supporter_contact(request, public_id)
        data, content_type, name, client_msg_id = _read_upload(request)
        result = service.send_attachment(
            contact_id=contact.pk,
            data=data,
            client_msg_id=client_msg_id,
            declared_type=content_type,
            declared_name=name,
            supporter=supporter,
        )
        return _ack(result)


class ConsoleAttachmentView(SupporterAPIView):
    @extend_schema(
        summary="A picture or PDF of a chat the supporter serves or served",
        parameters=[_size_parameter],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY} | _errors,
    )
    def get(self, request, public_id: str, attachment_id: str):
        _supporter_obj, contact = _supporter_contact(request, public_id)
        attachment = service.attachment_for(contact=contact, public_id=attachment_id)
        if attachment is None:
            raise NotFound("No such file.")
        return _file_response(attachment, request.query_params.get("size"))
