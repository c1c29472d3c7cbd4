"""Accessibility in the partner's review: each image without a description (alt text) and
each heading that skips a level is a finding of its own category ("Tillgänglighet"), in
Swedish, saying which image or heading and what to do in the program the report came from.

Intake found them in the report as the draft shows it (:class:`tasks.intake.normalise.Report`:
``missing_alt``, ``heading_skips``; ``tasks/core/lua/normalise.lua``); here each is anchored on
the review's text: an image on the first or last word of the text next to it, a heading on
the heading, so the Word comment sits where the partner has to look. A place the review's text
does not show is anchored on the document's first words, and the message still names it.
See docs/accessibility.md.
"""

from __future__ import annotations

from tasks.intake.normalise import Report
from tasks.review.text import SEPARATOR, Block, finding_context

CATEGORY = "Tillgänglighet"
CATEGORY_ID = "ACCESSIBILITY"
RULE_ALT = "BILD_UTAN_BESKRIVNING"
RULE_HEADING = "RUBRIKNIVA_HOPPAR_OVER"
SEVERITY = {RULE_ALT: "fel", RULE_HEADING: "varning"}

# How to give an image a description, by the kind of file the report came as.
DESCRIBE = {
    "docx": "I Word: högerklicka på bilden, välj ”Redigera alternativtext” och skriv i rutan vad bilden visar.",
    "odt": "I LibreOffice: högerklicka på bilden, välj ”Egenskaper”, fliken ”Alternativ”, och skriv vad bilden "
           "visar under ”Textalternativ”.",
    "md": "I Markdown: skriv vad bilden visar mellan hakparenteserna, ![så här](…).",
    "html": "I HTML: skriv vad bilden visar i bildens alt-attribut, <img alt=\"så här\" …>.",
    "rtf": "En RTF-fil kan inte bära bildbeskrivningar: spara rapporten som Word-dokument (.docx), högerklicka "
           "på bilden, välj ”Redigera alternativtext” och skriv i rutan vad bilden visar.",
}
WHERE = {"in": "i stycket", "after": "efter", "before": "före"}
QUOTED = 60  # characters of the nearby text quoted in a message


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return f"”{text if len(text) <= QUOTED else text[:QUOTED].rstrip() + ' …'}”"


def alt_message(image: dict, kind: str) -> str:
    """The finding for one image without a description (Swedish, as the partner reads it)."""
    which = "Bilden" if image.get("of", 1) == 1 else f"Bild {image['n']} av {image['of']}"
    where = f" ({WHERE[image['where']]} {_quote(image['near'])})" if image.get("where") in WHERE else ""
    return (f"{which}{where} saknar beskrivning (alternativtext). Den som inte ser bilden, till exempel med "
            "en skärmläsare, får inte veta vad den visar; i utkastet står ”Bildbeskrivning saknas” under den. "
            f"{DESCRIBE.get(kind, DESCRIBE['docx'])} Lägg sedan in rapporten igen.")


def heading_message(skip: dict, kind: str) -> str:
    """The finding for a heading that skips a level (Swedish)."""
    wanted, level, previous = skip["previous"] + 1, skip["level"], skip["previous"]
    skipped = f"nivå {wanted}" if level - previous == 2 else f"nivåerna {wanted}–{level - 1}"
    how = {"md": f"skriv den med {wanted} #-tecken", "html": f"gör den till <h{wanted}>",
           "odt": f"ge den styckeformatet Rubrik {wanted}"}.get(kind, f"ge den formatet Rubrik {wanted}")
    return (f"Rubriken {_quote(skip['text'])} har nivå {level} men rubriken före den har nivå {previous}: "
            f"{skipped} hoppas över. Skärmläsare och innehållsförteckningar bygger på rubriknivåerna, så "
            f"{how}. I utkastet har rubriken flyttats upp så att ingen nivå hoppas över.")


def _squash(text: str) -> str:
    return " ".join(text.split())


def find_block(blocks: list[Block], text: str, heading: bool = False) -> int | None:
    """The block that holds ``text`` (as pandoc read it: compared without its spacing; a long
    text by its start), a heading first when ``heading``; None when none does."""
    want = _squash(text)
    if not want:
        return None
    order = sorted(range(len(blocks)), key=lambda i: heading and blocks[i].kind != "heading")
    for match in (lambda have: have == want, lambda have: have.startswith(want[:40])):
        for i in order:
            if match(_squash(blocks[i].text)):
                return i
    return None


def _word(text: str, last: bool) -> tuple[int, int]:
    """The first (or last) word of ``text`` as (start, end)."""
    words = text.split()
    if not words:
        return 0, 0
    start = text.rfind(words[-1]) if last else text.find(words[0])
    return start, start + len(words[-1] if last else words[0])


def _record(blocks: list[Block], index: int, span: tuple[int, int], rule: str, message: str) -> dict:
    block = blocks[index]
    base = sum(len(b.text) + len(SEPARATOR) for b in blocks[:index])
    start, end = span
    return {
        "id": 0, "offset": base + start, "length": end - start, "text": block.text[start:end],
        "block": index, "block_offset": start, "paragraph": index + 1, "line": block.line_of(start),
        "context": finding_context(block, start, end, ""), "sentence": "",
        "message": message, "short_message": CATEGORY, "description": "",
        "rule_id": rule, "category_id": CATEGORY_ID, "category_name": CATEGORY,
        "issue_type": "non-conformance", "suggestions": [], "severity": SEVERITY[rule],
    }


def accessibility_findings(blocks: list[Block], report: Report) -> list[dict]:
    """One finding per image without a description and per heading that skips a level."""
    if not blocks:
        return []
    found = []
    for image in report.missing_alt:
        index = find_block(blocks, image.get("near", ""))
        span = _word(blocks[index or 0].text, last=index is not None and image.get("where") == "after")
        found.append(_record(blocks, index or 0, span, RULE_ALT, alt_message(image, report.kind)))
    for skip in report.heading_skips:
        index = find_block(blocks, skip["text"], heading=True)
        text = blocks[index or 0].text
        span = (len(text) - len(text.lstrip()), len(text.rstrip())) if index is not None else _word(text, False)
        found.append(_record(blocks, index or 0, span, RULE_HEADING, heading_message(skip, report.kind)))
    return found


def add_accessibility_findings(reviewed, report: Report) -> None:
    """Add the report's accessibility findings to ``reviewed`` (a
    :class:`tasks.review.check.ReviewedText`), in text order, numbered again."""
    found = accessibility_findings(reviewed.blocks, report)
    if found:
        reviewed.findings = sorted(reviewed.findings + found, key=lambda r: (r["offset"], r["length"]))
        for n, record in enumerate(reviewed.findings, start=1):
            record["id"] = n
