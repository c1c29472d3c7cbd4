"""Regenerate templates/reference.docx, the Word styles of every draft.

Starts from pandoc's own reference document (so every style pandoc uses exists), then
sets Swedish as the proofing language, a readable body font and Swedish style names for
the headings people see in Word's style gallery. Run it after upgrading pandoc:

    .venv/bin/python scripts/make_reference_docx.py
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pypandoc
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor

TARGET = Path(__file__).resolve().parent.parent / "templates" / "reference.docx"


def main() -> int:
    raw = subprocess.run([pypandoc.get_pandoc_path(), "--print-default-data-file", "reference.docx"],
                         capture_output=True, check=True).stdout
    doc = Document(io.BytesIO(raw))
    styles = doc.styles
    # Swedish proofing language on the document defaults (rPrDefault) and on Normal.
    rpr_default = styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    lang = rpr_default.find(qn("w:lang"))
    if lang is None:
        lang = rpr_default.makeelement(qn("w:lang"), {})
        rpr_default.append(lang)
    for attr in ("w:val", "w:eastAsia", "w:bidi"):
        lang.set(qn(attr), "sv-SE")
    normal = styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)
    body = styles["Body Text"]
    body.font.name = "Calibri"
    for level, size in ((1, 18), (2, 14), (3, 12), (4, 11)):
        style = styles[f"Heading {level}"]
        style.font.name = "Calibri"
        style.font.size = Pt(size)
        style.font.color.rgb = RGBColor(0x1F, 0x3A, 0x5F)
    styles["Title"].font.color.rgb = RGBColor(0x1F, 0x3A, 0x5F)
    doc.core_properties.language = "sv-SE"
    doc.core_properties.title = ""
    doc.core_properties.author = "utkast"
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    doc.save(TARGET)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
