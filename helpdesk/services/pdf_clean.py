"""PDFs a supporter sends in a chat, rewritten without who made them.

A PDF's document information dictionary (Author, Creator, Producer, Title,
dates) and its XMP metadata stream often name the person or the office that
made it, and the software and times. The upload is parsed with pypdf and
written again from its pages only: the new file has no information
dictionary, no document-level XMP, and none of the catalogue's other parts
(outlines, named JavaScript, open actions, forms, embedded files). Pages and
the pictures on them lose their own XMP streams and private application data
as well. What cannot be parsed is refused: a file we cannot read is a file
we cannot clean.
"""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import DictionaryObject, NameObject

log = logging.getLogger(__name__)

# Per-object entries that carry metadata or application data about the maker.
_OBJECT_KEYS = ("/Metadata", "/PieceInfo", "/LastModified")
# Page entries that run something when the page opens or closes.
_PAGE_ACTION_KEYS = ("/AA",)
MAX_PAGES = 500
# pypdf raises more than its own errors on damaged files.
_PARSE_ERRORS = (PyPdfError, ValueError, TypeError, KeyError, AttributeError, IndexError, OSError)


class UnreadablePdf(ValueError):
    """The file is not a PDF pypdf can read, is encrypted, or has no pages."""


def _strip_object(obj) -> None:
    if isinstance(obj, DictionaryObject):
        for key in _OBJECT_KEYS:
            obj.pop(NameObject(key), None)


def _strip_page(page) -> None:
    _strip_object(page)
    for key in _PAGE_ACTION_KEYS:
        page.pop(NameObject(key), None)
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    if not isinstance(resources, DictionaryObject):
        return
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if xobjects is not None else None
    if isinstance(xobjects, DictionaryObject):
        for ref in xobjects.values():
            _strip_object(ref.get_object())


def clean_pdf(data: bytes) -> bytes:
    """The same pages in a new file without document metadata; UnreadablePdf if we cannot."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UnreadablePdf("the PDF is protected with a password")
        count = len(reader.pages)
        if count == 0:
            raise UnreadablePdf("the PDF has no pages")
        if count > MAX_PAGES:
            raise UnreadablePdf(f"the PDF has more than {MAX_PAGES} pages")
        writer = PdfWriter()
        for page in reader.pages:
            # Stripped before it is copied: the writer copies every object a
            # page refers to, so what is dropped afterwards would still be written.
            _strip_page(page)
            writer.add_page(page)
        # pypdf's writer starts an information dictionary of its own (Producer).
        writer.metadata = None
        out = io.BytesIO()
        writer.write(out)
    except UnreadablePdf:
        raise
    except _PARSE_ERRORS as exc:
        log.info("a PDF upload could not be parsed: %s", type(exc).__name__)
        raise UnreadablePdf("the PDF is damaged and cannot be read") from None
    except RecursionError:
        raise UnreadablePdf("the PDF is damaged and cannot be read") from None
    return out.getvalue()
