"""Personal data in the partner's review report: each value found is a finding of its own
category ("Personuppgifter", severity "fel") with a Word comment on the words in the
partner's own document, and is hidden from the language checker (replaced by zeros, like
URLs), so a configured LanguageTool server never receives it.

The review reads the partner's file itself (:mod:`tasks.review.text`), the draft is made from
pandoc's reading of it (:mod:`tasks.personal`); both are searched with the same rules. What
the review's text does not show (Word footnotes and endnotes, text boxes, a title in the
document properties) is still reported: a footnote's finding is anchored on the word that
carries the footnote mark, anything else found in the draft's text but not in the review's
on the first words of the document, with the place where it was found.
"""

from __future__ import annotations

from collections import Counter

from lxml import etree

from tasks.personal.detect import Detector
from tasks.personal.mask import Finding
from tasks.personal.rules import PersonalRules, fold
from tasks.review.comments import paragraph_runs, run_text
from tasks.review.text import SEPARATOR, Block, finding_context

CATEGORY = "Personuppgifter"
CATEGORY_ID = "PERSONAL_DATA"
SEVERITY = "fel"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
NOTE_PARTS = (("footnotes", "footnote", "fotnot"), ("endnotes", "endnote", "slutnot"))


def message(kind: str, value: str, rules: PersonalRules, place: str | None = None) -> str:
    """The finding in Swedish, as the partner reads it (comment and report)."""
    where = f" ({place})" if place else ""
    return (f"Personuppgift{where}: {rules.label(kind)} ”{value}”. Den får inte stå i rapporten; i utkastet "
            f"som granskarna läser är den ersatt med ”{rules.mask(kind)}”. Ta bort den och lägg in rapporten igen.")


def _record(blocks: list[Block], index: int, base: int, start: int, end: int, kind: str, value: str,
            rules: PersonalRules, place: str | None = None, context: dict | None = None) -> dict:

    block = blocks[index]
    return {
        "id": 0, "offset": base + start, "length": end - start, "text": block.text[start:end],
        "block": index, "block_offset": start, "paragraph": index + 1, "line": block.line_of(start),
        "context": context or finding_context(block, start, end, ""), "sentence": "",
        "message": message(kind, value, rules, place), "short_message": rules.label(kind), "description": "",
        "rule_id": f"PERSONUPPGIFT_{kind.upper()}", "category_id": CATEGORY_ID, "category_name": CATEGORY,
        "issue_type": "privacy", "suggestions": [], "severity": SEVERITY,
        "personal": {"kind": kind, "label": rules.label(kind), "value": value, "place": place},
    }


def _bases(blocks: list[Block]) -> list[int]:

    bases, pos = [], 0
    for b in blocks:
        bases.append(pos)
        pos += len(b.text) + len(SEPARATOR)
    return bases


def _word_before(text: str, offset: int) -> tuple[int, int]:
    """The word that ends at ``offset`` (where a footnote mark sits), else the first word."""
    end = offset
    while end > 0 and text[end - 1].isspace():
        end -= 1
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    if start == end:
        end = len(text.split()[0]) if text.split() else 0
        start = len(text) - len(text.lstrip())
        end += start
    return start, end


def _note_records(reviewed, detector: Detector, rules: PersonalRules, bases: list[int]) -> list[dict]:
    """Footnotes and endnotes of a Word document: findings anchored on their mark's word."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT


    records = []
    part = reviewed.docx.part
    for rel_name, tag, label in NOTE_PARTS:
        reltype = getattr(RT, rel_name.upper())
        rel = next((r for r in part.rels.values() if r.reltype == reltype and not r.is_external), None)
        if rel is None:
            continue
        root = etree.fromstring(rel.target_part.blob, etree.XMLParser(resolve_entities=False, no_network=True))
        notes = {}
        for note in root.iter(f"{W}{tag}"):
            if note.get(f"{W}type") in (None, "normal"):
                paragraphs = ["".join(t.text or "" for t in p.iter(f"{W}t")) for p in note.iter(f"{W}p")]
                notes[note.get(f"{W}id")] = " ".join(p.strip() for p in paragraphs if p.strip())
        number = 0
        for index, para in enumerate(reviewed.paragraphs):
            pos = 0
            for r in paragraph_runs(para.element):
                ref = r.find(f"{W}{tag}Reference")
                if ref is not None and ref.get(f"{W}id") in notes:
                    number += 1
                    text = notes[ref.get(f"{W}id")]
                    start, end = _word_before(para.block.text, pos)
                    for m in detector.find(text):
                        context = {"text": text, "offset": m.start, "length": m.end - m.start, "sentence": False}
                        records.append(_record(reviewed.blocks, index, bases[index], start, end, m.kind, m.value,
                                               rules, f"{label} {number}", context))
                pos += len(run_text(r))
    return records


def _name_column_cells(doc, finder: Detector, rules: PersonalRules) -> set[str]:
    """Names in the columns of Word tables headed "Deltagare", "Namn", … (first row)."""

    names = set()
    for table in doc.tables:
        try:
            rows = [[cell.text for cell in row.cells] for row in table.rows]
        except (IndexError, ValueError):  # a table python-docx cannot lay out
            continue
        if len(rows) < 2:
            continue
        columns = [i for i, head in enumerate(rows[0]) if fold(head).strip(" :") in rules.column_headers]
        for row in rows[1:]:
            for i in columns:
                name = finder.whole_name(row[i]) if i < len(row) else None
                if name:
                    names.add(name)
    return names


def personal_findings(reviewed, rules: PersonalRules, known: list[Finding] | None = None) -> list[dict]:
    """Findings for the personal data in a report being reviewed (``reviewed`` is a
    :class:`tasks.review.ReviewedText`); the spans found are added to the blocks' masks so
    the checker never sees them. ``known`` are the findings in the report's AST (what the
    draft masks): their names are looked for too, and any of them not found in the review's
    text is reported with its place."""
    blocks = reviewed.blocks
    # Names next to marker words anywhere in the text (and those the draft masks) are
    # looked for everywhere, as in the draft.
    finder = Detector.for_rules(rules)
    names = {f.value for f in known or [] if f.kind == "namn"}
    names.update(m.value for block in blocks for m in finder.names(block.text))
    if reviewed.docx is not None:
        names.update(_name_column_cells(reviewed.docx, finder, rules))
    detector = Detector.for_rules(rules, names)
    bases = _bases(blocks)
    records = []
    for index, block in enumerate(blocks):
        for m in detector.find(block.text):
            block.masked.append((m.start, m.end))
            records.append(_record(blocks, index, bases[index], m.start, m.end, m.kind, m.value, rules))
    if reviewed.docx is not None:
        records += _note_records(reviewed, detector, rules, bases)
    if known and blocks:
        missing = Counter((f.kind, f.value) for f in known) - Counter(
            (r["personal"]["kind"], r["personal"]["value"]) for r in records)
        start, end = _word_before(blocks[0].text, 0)
        for f in known:
            if missing[(f.kind, f.value)] > 0:
                missing[(f.kind, f.value)] -= 1
                context = {"text": f.context or f.value, "offset": max(0, (f.context or f.value).find(f.value)),
                           "length": len(f.value), "sentence": False}
                records.append(_record(blocks, 0, 0, start, end, f.kind, f.value, rules, f.place, context))
    return records
