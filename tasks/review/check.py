"""Checking a document: its blocks through the checker, filtered by the settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tasks.core.errors import UtkastError
from tasks.intake.screening import decode_text
from tasks.personal.mask import Finding as PersonalFinding
from tasks.review.checker import Checker, Finding
from tasks.review.detector import CATEGORY_ID, CATEGORY_NAME, RULE_ID, load_detector, dense_paragraphs
from tasks.review.comments import DocxParagraph, docx_paragraphs, open_docx
from tasks.review.personal import personal_findings
from tasks.review.readability import readability
from tasks.review.settings import Dictionary, ReviewSettings, is_spelling
from tasks.review.spelling import Flagged, drop_reasons, names_in, open_lexicon, open_tagger
from tasks.review.text import (
    SEPARATOR,
    Block,
    blocks_from_markdown,
    blocks_from_normalised,
    blocks_from_odt,
    finding_context,
)

# --- checking a document -------------------------------------------------------------------------

# Text before a word that does not end a sentence: an abbreviation's full stop or an ellipsis.
CONTINUES = re.compile(r"(?:(?<![\w.])(?:t\.ex|bl\.a|m\.m|m\.fl|o\.s\.v|d\.v\.s|dvs|osv|etc|ca|resp|s\.k|"
                       r"p\.g\.a|pga|ang|inkl|exkl|f\.d|fr\.o\.m|t\.o\.m|nr|kap|jfr|el|st)\.|…)\s*$", re.I)


@dataclass
class ReviewedText:
    """The blocks checked and the findings kept (offsets into :attr:`text`)."""

    blocks: list[Block]
    findings: list[dict]
    docx: object | None = None  # the partner's own Word document, when it came as one
    paragraphs: list[DocxParagraph] = field(default_factory=list)
    readability: dict | None = None  # LIX and the rest (tasks/review/readability.py)

    @property
    def text(self) -> str:
        return SEPARATOR.join(b.text for b in self.blocks)

    @property
    def words(self) -> int:
        return sum(len(b.text.split()) for b in self.blocks)


def review_blocks(blocks: list[Block], checker: Checker, settings: ReviewSettings,
                  dictionary: Dictionary | None = None, detect: bool = True) -> list[dict]:
    """Check ``blocks`` and return the findings a partner should see, in text order
    (``detect=False``: the rules' findings only, without the learned detector's)."""
    dictionary = dictionary or Dictionary(settings.words, settings.endings)
    results = checker.check([b.checked_text() for b in blocks])
    lexicon = open_lexicon(settings.language, getattr(checker, "data_dir", None))
    tagger = open_tagger(settings.language, getattr(checker, "data_dir", None))
    if lexicon is not None and lexicon.tagger is None:
        lexicon.tagger = tagger
    names = names_in([b.text for b in blocks])
    findings, base = [], 0
    compounds = []  # (record, parts to check alone)
    style = settings.house_style
    for index, (block, found) in enumerate(zip(blocks, results)):
        if style is not None or settings.terms is not None:
            styled = (style.check(block.text) if style is not None else []) + (
                settings.terms.check(block.text) if settings.terms is not None else [])
            # The house style's finding wins over the speller's on the same words ("pga").
            found = [f for f in found if not (is_spelling(f) and any(
                s.offset <= f.offset and f.offset + f.length <= s.offset + s.length for s in styled))] + styled
        spelling = [f for f in found if is_spelling(f)]
        dropped = drop_reasons(block.text, [Flagged(f.offset, f.offset + f.length, block.text[f.offset:f.offset + f.length],
                                                    f.suggestions) for f in spelling], lexicon, names, tagger)
        not_misspelt = {id(spelling[i]) for i in dropped}
        for f in found:
            if id(f) in not_misspelt:
                continue
            start, end = f.offset, f.offset + f.length
            if f.rule_id in settings.disabled_rules or f.category_id in settings.disabled_categories:
                continue
            if start == 0 and block.kind in ("item", "cell") and f.rule_id in settings.allowed_at_item_start:
                continue
            if (block.kind != "para" or "\t" in block.text) and f.rule_id in settings.only_in_paragraphs:
                continue  # a heading, list item, table cell or table typed with tabs needs no full stop
            if f.rule_id in settings.allowed_at_item_start and CONTINUES.search(block.text[:start]):
                continue  # "T.ex. finns det …", "… allt gjorde han": the sentence goes on
            if any(a < max(end, start + 1) and start < b for a, b in block.masked):
                continue
            rest = None
            if is_spelling(f):
                if dictionary.covers(block.text, start, end):
                    continue
                rest = dictionary.compound_rest(block.text, start, end)
            if end == start:  # point at something: the character there (or before, at the end)
                start, end = (start, start + 1) if start < len(block.text) else (max(0, start - 1), start)
            record = _record(block, index, base, start, end, f, settings)
            if style is not None and f.rule_id in style.severities:
                record["severity"] = style.severities[f.rule_id]
            if rest is None:
                findings.append(record)
            else:
                compounds.append((record, rest))
        base += len(block.text) + len(SEPARATOR)
    if compounds:
        # "Kooptjänst-projektet": reported only if a part outside the dictionary is misspelt.
        parts = sorted({p for _, rest in compounds for p in rest})
        misspelt = {p for p, found in zip(parts, checker.check(parts)) if any(is_spelling(x) for x in found)}
        findings += [record for record, rest in compounds if misspelt & set(rest)]
    if detect and settings.detector and CATEGORY_ID not in settings.disabled_categories:
        findings = detected(blocks, findings, settings, getattr(checker, "data_dir", None))
    findings.sort(key=lambda r: (r["offset"], r["length"]))
    for n, record in enumerate(findings, start=1):
        record["id"] = n
    return findings


# Headings, table cells and tables typed with tabs are no sentences to judge.
DETECTED_KINDS = ("para", "item")


def detected(blocks: list[Block], findings: list[dict], settings: ReviewSettings, data_dir: str | None) -> list[dict]:
    """``findings`` less the grammar rules' findings the learned detector overrules, plus its own
    findings where no rule reports anything."""
    detector = load_detector(settings.language, data_dir, settings.detector_threshold)
    per_block: dict[int, list[dict]] = {}
    for f in findings:
        per_block.setdefault(f["block"], []).append(f)
    out, base = [f for f in findings if f["block"] not in per_block or blocks[f["block"]].kind not in DETECTED_KINDS], 0
    judged = [i for i, b in enumerate(blocks) if b.kind in DETECTED_KINDS and b.text.strip() and "\t" not in b.text]
    # How eager the model is, per paragraph: the density of the rules' findings of errors around it
    # (docs/language-review.md). Style (the house style, the term list, LanguageTool's style rules)
    # is the project's conventions, not errors: a paragraph full of "dvs." is not a learner's.
    errors = {i: sum(f["issue_type"] != "style" for f in per_block.get(i, [])) for i in judged}
    dense = [False] * len(judged) if settings.detector_dense_threshold is None else dense_paragraphs(
        [len(blocks[i].text.split()) for i in judged], [errors[i] for i in judged],
        settings.detector_dense_from, settings.detector_dense_window)
    eager = dict(zip(judged, dense))
    for index, block in enumerate(blocks):
        mine = per_block.get(index, [])
        if index in eager:
            spans = [(f["block_offset"], f["block_offset"] + f["length"], f["rule_id"]) for f in mine]
            skip = list(block.masked)
            if block.kind == "item" and block.text[:1].islower():
                # A list item that continues a sentence starts in lower case (as allowed_at_item_start).
                skip.append((0, len(block.text.split(maxsplit=1)[0])))
            flags, overruled = detector.find(block.text, spans, skip, settings.detector_veto,
                                             settings.detector_dense_threshold if eager[index] else None)
            out += [f for n, f in enumerate(mine) if n not in overruled]
            for flag in flags:
                found = Finding(offset=flag.start, length=flag.end - flag.start, message=flag.message, rule_id=RULE_ID,
                                category_id=CATEGORY_ID, category_name=CATEGORY_NAME, issue_type="uncategorized",
                                suggestions=flag.suggestions, short_message="Kanske fel",
                                description="Inlärd granskning (tränad på svenska elevtexter)")
                out.append(_record(block, index, base, flag.start, flag.end, found, settings))
        base += len(block.text) + len(SEPARATOR)
    return out


def _record(block: Block, index: int, base: int, start: int, end: int, f, settings: ReviewSettings) -> dict:
    context = finding_context(block, start, end, f.sentence)
    return {
        "id": 0,
        "offset": base + start, "length": end - start,
        "text": block.text[start:end],
        "block": index, "block_offset": start, "paragraph": index + 1, "line": block.line_of(start),
        "context": context,
        "sentence": context["text"] if context.get("sentence") else "",
        "message": f.message, "short_message": f.short_message, "description": f.description,
        "rule_id": f.rule_id, "category_id": f.category_id, "category_name": f.category_name or f.category_id,
        "issue_type": f.issue_type,
        "suggestions": f.suggestions[:settings.max_suggestions],
        "severity": settings.severity(f.rule_id, f.issue_type),
    }


def read_review_text(kind: str, data: bytes, normalised) -> ReviewedText:
    """The blocks to check for a report that came as ``kind`` (see :mod:`tasks.review.text`).

    ``normalised`` is the report's normalised Markdown, or a function returning it (called
    only when needed: HTML/ODT/RTF, or a Word file python-docx cannot open)."""
    if kind == "docx":
        try:
            doc = open_docx(data)
            paragraphs = docx_paragraphs(doc)
        except Exception:  # python-docx cannot read every file pandoc can: use the normalised text
            doc, paragraphs = None, []
        if doc is not None:
            return ReviewedText([p.block for p in paragraphs], [], doc, paragraphs)
    elif kind in ("md", "txt"):
        return ReviewedText(blocks_from_markdown(decode_text(data)[0], markdown=kind == "md"), [])
    elif kind == "odt":
        try:
            return ReviewedText(blocks_from_odt(data), [])
        except Exception:  # an unusual file: use the normalised text
            pass
    if callable(normalised):
        normalised = normalised()
    if normalised is None:
        raise UtkastError(f"no normalised text to review for a {kind} report")
    return ReviewedText(blocks_from_normalised(normalised), [])


def review_source(kind: str, data: bytes, normalised, checker: Checker,
                  settings: ReviewSettings, known: list[PersonalFinding] | None = None) -> ReviewedText:
    """Read and check one document. Personal data is found first (``known``: what the draft
    masks, from the report's AST): it becomes findings of its own and the checker never sees it."""
    reviewed = read_review_text(kind, data, normalised)
    private = personal_findings(reviewed, settings.personal, known) if settings.personal else []
    reviewed.findings = review_blocks(reviewed.blocks, checker, settings)
    reviewed.readability = readability([b.text for b in reviewed.blocks], settings.long_sentence_words,
                                       open_tagger(settings.language, getattr(checker, "data_dir", None)))
    if private:
        reviewed.findings = sorted(reviewed.findings + private, key=lambda r: (r["offset"], r["length"]))
        for n, record in enumerate(reviewed.findings, start=1):
            record["id"] = n
    return reviewed


