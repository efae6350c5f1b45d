"""The text of a PDF, for tests that read what a paper says (pypdf: no system tool needed)."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader


def pdf_text(pdf: bytes | Path) -> str:
    """Every page's text, each ended by a form feed (as pdftotext writes it)."""
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    reader = PdfReader(io.BytesIO(data))
    return "".join((page.extract_text() or "") + "\f" for page in reader.pages)
