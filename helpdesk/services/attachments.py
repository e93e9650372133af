"""Pictures and PDFs in a chat: the only writer of Attachment.

An upload is judged by its content alone. Pillow identifies the picture
(never the file name or the Content-Type, which only have to agree with it),
checks its size in bytes and pixels, and re-encodes it: what is stored is a
new file made from the pixels, so EXIF (GPS position, camera, times), XMP,
ICC profiles and text chunks never reach the disk. A supporter may also send
a PDF, recognised by its header and trailer and rewritten without its
document information and XMP metadata (helpdesk/services/pdf_clean.py); a PDF
that cannot be parsed is refused. The file and a thumbnail are
written under ATTACHMENT_ROOT, then the row and a `message.new` of kind
"file" are stored in one transaction; if that fails, the files are removed.
The retention purge (helpdesk/services/retention.py) deletes rows and files.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext
from PIL import Image, ImageOps, UnidentifiedImageError

from helpdesk.models import Attachment, Contact, Message
from helpdesk.models.attachments import attachment_storage
from helpdesk.services.errors import InvalidInput
from helpdesk.services.messages import PostResult, post_message
from helpdesk.services.pdf_clean import UnreadablePdf, clean_pdf

log = logging.getLogger(__name__)

# Pillow format -> (content type of the stored file, its Pillow save format, extension).
# GIFs are stored as PNG: their first frame, without the comment blocks.
_IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", "JPEG", "jpg"),
    "PNG": ("image/png", "PNG", "png"),
    "WEBP": ("image/webp", "WEBP", "webp"),
    "GIF": ("image/png", "PNG", "png"),
}
# What a browser may call each format in the upload's Content-Type.
_DECLARED = {
    "JPEG": {"image/jpeg", "image/jpg", "image/pjpeg"},
    "PNG": {"image/png"},
    "WEBP": {"image/webp"},
    "GIF": {"image/gif"},
    "PDF": {"application/pdf"},
}
_GENERIC_TYPES = {"", "application/octet-stream"}
THUMB_SIZE = (320, 320)


@dataclass(frozen=True)
class Checked:
    """An upload that passed: what to store."""

    kind: str
    content_type: str
    data: bytes
    extension: str
    width: int | None = None
    height: int | None = None
    thumbnail: bytes = b""
    thumbnail_type: str = ""


_HTTP_STATUS = {
    "too_large": 413,
    "wrong_type": 415,
    "type_mismatch": 415,
    "unreadable_pdf": 422,
}


def _refuse(detail: str, code: str) -> InvalidInput:
    error = InvalidInput(detail, code=code)
    error.http_status = _HTTP_STATUS.get(code, 400)
    return error


def _check_declared(fmt: str, declared_type: str | None, declared_name: str | None) -> None:
    """The name and Content-Type need not be given, but when given they must agree."""
    accepted = _DECLARED[fmt]
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared not in _GENERIC_TYPES and declared not in accepted:
        raise _refuse(f"the file is {fmt} but was sent as {declared[:40]!r}", "type_mismatch")
    if declared_name and "." in declared_name:
        guessed, _ = mimetypes.guess_type(declared_name.lower())
        if guessed and guessed not in accepted:
            raise _refuse(f"the file is {fmt} but is named as {guessed}", "type_mismatch")


def _reencode(image: Image.Image, save_format: str) -> bytes:
    """A fresh file from the pixels only: no EXIF, XMP, ICC profile or text chunks."""
    if save_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif save_format in ("PNG", "WEBP") and image.mode not in ("RGB", "RGBA", "L", "LA"):
        alpha = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if alpha else "RGB")
    pixels = Image.new(image.mode, image.size)
    pixels.paste(image)  # a new image carries none of the source's info dictionary
    out = io.BytesIO()
    options: dict = {"JPEG": {"quality": 88, "optimize": True}, "WEBP": {"quality": 88}}.get(
        save_format, {"optimize": True}
    )
    pixels.save(out, format=save_format, **options)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> tuple[bytes, str]:
    thumb = image.copy()
    thumb.thumbnail(THUMB_SIZE)
    if thumb.mode in ("RGBA", "LA") or "transparency" in thumb.info:
        return _reencode(thumb.convert("RGBA"), "PNG"), "image/png"
    return _reencode(thumb.convert("RGB"), "JPEG"), "image/jpeg"


def _check_pdf(data: bytes) -> Checked:
    # A PDF starts with its header and ends with %%EOF (possibly followed by a newline).
    if b"%%EOF" not in data[-1024:]:
        raise _refuse("the PDF is incomplete or damaged", "unreadable_pdf")
    try:
        cleaned = clean_pdf(data)
    except UnreadablePdf as exc:
        raise _refuse(str(exc), "unreadable_pdf") from None
    return Checked(
        kind=Attachment.Kind.PDF, content_type="application/pdf", data=cleaned, extension="pdf"
    )


def check_upload(
    *,
    data: bytes,
    declared_type: str | None = None,
    declared_name: str | None = None,
    allow_pdf: bool = False,
) -> Checked:
    """Judge an upload by its content; raise InvalidInput with a code the page can show.

    Codes: ``empty``, ``too_large``, ``wrong_type`` (not a picture we take, or
    not a picture at all), ``type_mismatch`` (the content is not what its
    name or Content-Type says), ``unreadable_pdf`` (damaged, encrypted or
    without pages: it cannot be cleaned of its metadata).
    """
    if not isinstance(data, bytes | bytearray) or not data:
        raise _refuse("the file is empty", "empty")
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise _refuse(f"the file is over {settings.ATTACHMENT_MAX_BYTES} bytes", "too_large")
    data = bytes(data)
    if data.startswith(b"%PDF-"):
        if not allow_pdf:
            raise _refuse("only pictures can be sent here", "wrong_type")
        _check_declared("PDF", declared_type, declared_name)
        return _check_pdf(data)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            width, height = probe.size
            if fmt in _IMAGE_FORMATS and width * height > settings.ATTACHMENT_MAX_PIXELS:
                raise _refuse("the picture has too many pixels", "too_large")
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
    except InvalidInput:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise _refuse("the file is not a picture", "wrong_type") from None
    if fmt not in _IMAGE_FORMATS:
        raise _refuse(f"pictures of type {fmt} are not accepted", "wrong_type")
    _check_declared(fmt, declared_type, declared_name)
    content_type, save_format, extension = _IMAGE_FORMATS[fmt]
    # Turn the picture the way its EXIF says before the EXIF goes.
    image = ImageOps.exif_transpose(image)
    stored = _reencode(image, save_format)
    thumbnail, thumbnail_type = _thumbnail(image)
    return Checked(
        kind=Attachment.Kind.IMAGE,
        content_type=content_type,
        data=stored,
        extension=extension,
        width=image.width,
        height=image.height,
        thumbnail=thumbnail,
        thumbnail_type=thumbnail_type,
    )


def attachment_payload(attachment: Attachment, contact_public_id) -> dict:
    """The `attachment` object of a file message (docs/protocol.md)."""
    base = f"/api/contacts/{contact_public_id}/attachments/{attachment.public_id}"
    return {
        "id": str(attachment.public_id),
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "url": base,
        "thumbnail_url": f"{base}?size=thumb" if attachment.thumbnail else None,
    }


def _body(kind: str, language: str) -> str:
    """The text a file message carries, for transcripts and plain clients."""
    with translation.override(language or "fi"):
        if kind == Attachment.Kind.PDF:
            return gettext("[PDF document]")
        return gettext("[Picture]")


def send_attachment(
    *,
    contact_id: int,
    data: bytes,
    client_msg_id: str | None = None,
    declared_type: str | None = None,
    declared_name: str | None = None,
    supporter=None,
) -> PostResult:
    """Check, strip and store an upload, and post it as a `file` message.

    `supporter` None means the customer holding the contact's token (pictures
    only); a supporter must be the one serving the contact (post_message
    checks that in the same statement that stores the message).
    """
    checked = check_upload(
        data=data,
        declared_type=declared_type,
        declared_name=declared_name,
        allow_pdf=supporter is not None,
    )
    contact = Contact.objects.only("public_id", "language").get(pk=contact_id)
    client_msg_id = client_msg_id or uuid.uuid4().hex
    attachment = Attachment(
        contact_id=contact_id,
        supporter=supporter,
        kind=checked.kind,
        content_type=checked.content_type,
        size=len(checked.data),
        width=checked.width,
        height=checked.height,
        thumbnail_type=checked.thumbnail_type,
    )
    folder = contact.public_id.hex
    storage = attachment_storage()
    written = [
        storage.save(
            f"{folder}/{attachment.public_id.hex}.{checked.extension}", ContentFile(checked.data)
        )
    ]
    attachment.file.name = written[0]
    if checked.thumbnail:
        thumb_ext = "png" if checked.thumbnail_type == "image/png" else "jpg"
        written.append(
            storage.save(
                f"{folder}/{attachment.public_id.hex}-thumb.{thumb_ext}",
                ContentFile(checked.thumbnail),
            )
        )
        attachment.thumbnail.name = written[1]
    try:
        with transaction.atomic():
            result = post_message(
                contact_id=contact_id,
                client_msg_id=client_msg_id,
                body=_body(checked.kind, contact.language),
                supporter=supporter,
                kind=Message.Kind.FILE,
                payload={"attachment": attachment_payload(attachment, contact.public_id)},
            )
            if not result.duplicate:
                attachment.message_seq = result.seq
                attachment.save()
    except BaseException:
        _delete_files(written)
        raise
    if result.duplicate:  # a resend of an upload already stored: keep the first
        _delete_files(written)
    log.info(
        "attachment %s stored for contact %s (%s, %d bytes)",
        attachment.public_id,
        contact.public_id,
        checked.content_type,
        len(checked.data),
    )
    return result


def _delete_files(names) -> None:
    storage = attachment_storage()
    for name in names:
        if not name:
            continue
        try:
            storage.delete(name)
        except OSError:
            log.warning("could not delete attachment file %s", name, exc_info=True)


def delete_for_contacts(contact_ids) -> int:
    """Delete the attachments of these contacts, files after the transaction commits."""
    rows = list(
        Attachment.objects.filter(contact_id__in=list(contact_ids)).values_list("file", "thumbnail")
    )
    if not rows:
        return 0
    Attachment.objects.filter(contact_id__in=list(contact_ids)).delete()
    names = [name for pair in rows for name in pair if name]
    transaction.on_commit(lambda: _delete_files(names))
    return len(rows)


def attachment_for(*, contact: Contact, public_id) -> Attachment | None:
    try:
        parsed = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return Attachment.objects.filter(contact=contact, public_id=parsed).first()
