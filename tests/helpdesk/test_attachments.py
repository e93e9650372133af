"""Chat pictures: content sniffed, metadata stripped, access by token, purged with the contact."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from helpdesk.models import Attachment, Contact, Message
from helpdesk.services import attachments as service
from helpdesk.services.errors import InvalidInput
from helpdesk.services.retention import purge_expired
from helpdesk.tokens import make_contact_token
from tests.helpdesk.test_api import auth, ip, post_contact  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

GPS_IFD = 0x8825


@pytest.fixture(autouse=True)
def attachment_settings(settings, tmp_path):
    settings.ATTACHMENT_ROOT = tmp_path / "attachments"
    settings.ATTACHMENT_MAX_BYTES = 200_000
    settings.ATTACHMENT_RATE_LIMIT = "1000/minute"
    settings.CONTACT_CREATE_RATE_LIMIT = "1000/minute"
    settings.TRANSCRIPT_RETENTION_DAYS = 90
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def jpeg_with_gps(size=(64, 48)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 12"  # Model
    exif[GPS_IFD] = {1: "N", 2: (60.0, 10.0, 12.5), 3: "E", 4: (24.0, 56.0, 3.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_bytes(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 128, 255, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def contact(client, reference_data, ip):  # noqa: F811
    response = post_contact(client, ip)
    assert response.status_code == 201, response.content
    body = response.json()
    return body["contact"]["id"], body["token"]


def upload(client, contact_id, token, data, *, name="photo.jpg", content_type="image/jpeg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        f"/api/contacts/{contact_id}/attachments",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        **auth(token),
    )


def stored_files(settings) -> list[Path]:
    root = Path(settings.ATTACHMENT_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_gps_exif_is_stripped_and_a_file_message_is_posted(client, contact, settings):
    contact_id, token = contact
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the input has GPS

    response = upload(client, contact_id, token, original)
    assert response.status_code == 201, response.content
    message = response.json()["message"]
    assert message["kind"] == "file" and message["author"] == "customer"
    card = message["payload"]["attachment"]
    assert card["kind"] == "image" and card["content_type"] == "image/jpeg"
    assert (card["width"], card["height"]) == (64, 48)

    row = Attachment.objects.get(public_id=card["id"])
    with row.file.open("rb") as handle:
        stored = handle.read()
    exif = Image.open(io.BytesIO(stored)).getexif()
    assert not exif.get_ifd(GPS_IFD)
    assert 0x010F not in exif and 0x0110 not in exif
    assert b"PhoneMaker" not in stored
    assert Message.objects.filter(contact__public_id=contact_id, kind="file").count() == 1

    # The token holder reads the picture and its thumbnail; nothing is cached.
    got = client.get(card["url"], **auth(token))
    assert got.status_code == 200
    assert got["Content-Type"] == "image/jpeg"
    assert "no-store" in got["Cache-Control"] and got["X-Content-Type-Options"] == "nosniff"
    assert b"".join(got.streaming_content) == stored
    thumb = client.get(card["thumbnail_url"], **auth(token))
    assert thumb.status_code == 200
    assert Image.open(io.BytesIO(b"".join(thumb.streaming_content))).size[0] <= 320


def test_oversized_file_is_refused(client, contact, settings):
    contact_id, token = contact
    big = png_bytes() + b"\0" * (settings.ATTACHMENT_MAX_BYTES + 1)
    response = upload(client, contact_id, token, big, name="big.png", content_type="image/png")
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert stored_files(settings) == []
    assert not Attachment.objects.exists()


def test_too_many_pixels_is_refused(settings):
    settings.ATTACHMENT_MAX_PIXELS = 1000
    with pytest.raises(InvalidInput) as caught:
        service.check_upload(data=png_bytes((100, 100)))
    assert caught.value.code == "too_large"


def test_wrong_type_is_refused(client, contact, settings):
    contact_id, token = contact
    text = upload(
        client, contact_id, token, b"hello, not a picture", name="a.txt", content_type="text/plain"
    )
    assert text.status_code == 415 and text.json()["error"] == "wrong_type"
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="BMP")
    bmp = upload(client, contact_id, token, out.getvalue(), name="a.bmp", content_type="image/bmp")
    assert bmp.status_code == 415 and bmp.json()["error"] == "wrong_type"
    pdf = upload(
        client,
        contact_id,
        token,
        b"%PDF-1.4\n1 0 obj\n%%EOF\n",
        name="a.pdf",
        content_type="application/pdf",
    )
    assert pdf.status_code == 415  # customers send pictures only
    assert stored_files(settings) == []


def test_content_not_matching_its_type_is_refused(client, contact, settings):
    contact_id, token = contact
    # PNG content sent as a JPEG: refused, whatever the name says.
    as_jpeg = upload(
        client, contact_id, token, png_bytes(), name="photo.png", content_type="image/jpeg"
    )
    assert as_jpeg.status_code == 415 and as_jpeg.json()["error"] == "type_mismatch"
    # HTML named and labelled as a picture: not a picture at all.
    html = b"<html><script>alert(1)</script></html>"
    fake = upload(client, contact_id, token, html, name="photo.jpg", content_type="image/jpeg")
    assert fake.status_code == 415 and fake.json()["error"] == "wrong_type"
    # A truncated JPEG: refused, not stored half.
    broken = upload(client, contact_id, token, jpeg_with_gps()[:200])
    assert broken.status_code == 415
    assert stored_files(settings) == []


def test_another_contacts_token_is_refused(client, contact, reference_data, ip):  # noqa: F811
    contact_id, token = contact
    card = upload(
        client, contact_id, token, png_bytes(), name="a.png", content_type="image/png"
    ).json()["message"]["payload"]["attachment"]
    other = post_contact(client, ip).json()
    refused = client.get(card["url"], **auth(other["token"]))
    assert refused.status_code == 404
    # The other contact's own URL does not lead to this file either.
    crossed = client.get(
        f"/api/contacts/{other['contact']['id']}/attachments/{card['id']}", **auth(other["token"])
    )
    assert crossed.status_code == 404
    assert client.get(card["url"]).status_code == 403  # no token at all
    forged = make_contact_token(uuid.uuid4())
    assert client.get(card["url"], **auth(forged)).status_code == 404
    # Uploading into someone else's chat is refused too.
    sneaky = upload(
        client, contact_id, other["token"], png_bytes(), name="a.png", content_type="image/png"
    )
    assert sneaky.status_code == 404


def test_resend_with_the_same_client_id_stores_one_picture(client, contact, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    contact_id, token = contact
    for expected in (201, 200):
        response = client.post(
            f"/api/contacts/{contact_id}/attachments",
            {
                "file": SimpleUploadedFile("a.png", png_bytes(), content_type="image/png"),
                "client_msg_id": "upload-1",
            },
            **auth(token),
        )
        assert response.status_code == expected, response.content
    assert Attachment.objects.count() == 1
    assert len(stored_files(settings)) == 2  # the picture and its thumbnail


def test_upload_rate_limit(client, contact, settings):
    settings.ATTACHMENT_RATE_LIMIT = "2/minute"
    contact_id, token = contact
    codes = [
        upload(
            client, contact_id, token, png_bytes(), name="a.png", content_type="image/png"
        ).status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]


def test_purged_contacts_files_are_gone(client, contact, settings):
    contact_id, token = contact
    assert upload(client, contact_id, token, jpeg_with_gps()).status_code == 201
    assert len(stored_files(settings)) == 2
    long_ago = timezone.now() - timedelta(days=91)
    Contact.objects.filter(public_id=contact_id).update(state="ended", ended_at=long_ago)

    report = purge_expired()
    assert report.contacts == 1
    assert not Attachment.objects.exists()
    assert stored_files(settings) == []
    gone = client.get(f"/api/contacts/{contact_id}/attachments/{uuid.uuid4()}", **auth(token))
    assert gone.status_code == 404


def test_ended_contact_takes_no_pictures(client, contact, settings):
    contact_id, token = contact
    Contact.objects.filter(public_id=contact_id).update(state="ended", ended_at=timezone.now())
    response = upload(
        client, contact_id, token, png_bytes(), name="a.png", content_type="image/png"
    )
    assert response.status_code == 409
    assert stored_files(settings) == []


# --- PDFs a supporter sends ------------------------------------------------

XMP_PACKET = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    b"<dc:creator><rdf:Seq><rdf:li>Maija XmpAuthor</rdf:li></rdf:Seq></dc:creator>"
    b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
# Strings that must not survive: the information dictionary's and the XMP's.
PDF_SECRETS = (b"Maija Meikalainen", b"Kunnan toimisto", b"SecretWriter", b"XmpAuthor", b"xmpmeta")


def pdf_with_metadata(pages: int = 2) -> bytes:
    """A PDF with Author/Creator/Producer, a document XMP stream and a page XMP stream."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(200, 200)
    writer.add_metadata(
        {
            "/Author": "Maija Meikalainen",
            "/Creator": "Kunnan toimisto",
            "/Producer": "SecretWriter 3.1",
        }
    )
    xmp = DecodedStreamObject()
    xmp.set_data(XMP_PACKET)
    xmp[NameObject("/Type")] = NameObject("/Metadata")
    xmp[NameObject("/Subtype")] = NameObject("/XML")
    writer._root_object[NameObject("/Metadata")] = writer._add_object(xmp)
    writer.pages[0][NameObject("/Metadata")] = writer._add_object(xmp)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_metadata_is_stripped():
    from pypdf import PdfReader

    original = pdf_with_metadata()
    assert all(secret in original for secret in PDF_SECRETS)  # the input carries them
    reader = PdfReader(io.BytesIO(original))
    assert reader.metadata.author == "Maija Meikalainen" and reader.xmp_metadata is not None

    checked = service.check_upload(
        data=original, declared_type="application/pdf", declared_name="ohje.pdf", allow_pdf=True
    )
    assert checked.kind == "pdf" and checked.content_type == "application/pdf"
    for secret in PDF_SECRETS:
        assert secret not in checked.data, secret
    cleaned = PdfReader(io.BytesIO(checked.data))
    assert len(cleaned.pages) == 2  # the pages are kept
    assert not cleaned.metadata  # no information dictionary at all (not even pypdf's Producer)
    assert cleaned.xmp_metadata is None
    assert "/Metadata" not in cleaned.pages[0]


def test_a_supporters_pdf_is_stored_without_metadata(settings, reference_data):
    from tests.realtime.helpers import make_pair

    _, supporter, contact = make_pair()
    result = service.send_attachment(
        contact_id=contact.pk,
        data=pdf_with_metadata(),
        declared_type="application/pdf",
        declared_name="ohje.pdf",
        supporter=supporter,
    )
    row = Attachment.objects.get(contact=contact)
    assert row.kind == "pdf" and row.message_seq == result.seq
    with row.file.open("rb") as handle:
        stored = handle.read()
    assert stored.startswith(b"%PDF-") and row.size == len(stored)
    for secret in PDF_SECRETS:
        assert secret not in stored, secret


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"%PDF-1.4\n1 0 obj\n%%EOF\n", id="no-objects"),
        pytest.param(b"%PDF-1.7\ngarbage garbage\n%%EOF\n", id="garbage"),
        pytest.param(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", id="no-pages"),
        pytest.param("truncated", id="truncated"),
    ],
)
def test_a_malformed_pdf_is_refused_with_a_clear_error(client, settings, reference_data, data):
    from tests.realtime.helpers import make_pair

    if data == "truncated":
        whole = pdf_with_metadata()
        data = whole[: len(whole) // 2] + b"\n%%EOF\n"
    _, supporter, contact = make_pair()
    client.force_login(supporter.user)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"/api/console/contacts/{contact.public_id}/attachments",
        {"file": SimpleUploadedFile("ohje.pdf", data, content_type="application/pdf")},
    )
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "unreadable_pdf"
    assert "PDF" in body["detail"]
    assert not Attachment.objects.exists() and not stored_files(settings)
    assert not Message.objects.filter(contact=contact).exists()
