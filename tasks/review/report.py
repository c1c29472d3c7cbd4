"""What partners read: the review as JSON, HTML and a commented Word file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tasks.core.templating import STOCKHOLM, html_env, swedish_datetime
from tasks.review.check import ReviewedText
from tasks.review.checker import Checker
from tasks.review.comments import comment_document, new_text_document, save
from tasks.review.settings import SEVERITIES
from tasks.review.text import SEPARATOR

SEVERITY_PLURAL = {"fel": "fel", "varning": "varningar", "tips": "tips"}
MIME_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# --- what partners read ---------------------------------------------------------------------------


def visible(text: str) -> str:
    """Spaces a reader must see (doubled, leading, trailing) shown as ␣."""
    if text.strip() != text or "  " in text or not text:
        return text.replace(" ", "␣")
    return text


def comment_text(f: dict) -> str:
    """The Word comment for one finding (Swedish)."""
    lines = [f["message"]]
    if f["suggestions"]:
        lines.append("Förslag: " + " eller ".join(f"”{visible(s)}”" for s in f["suggestions"]))
    lines.append(f"{f['category_name']} · {f['severity']}")
    return "\n".join(lines)


def counts(findings: list[dict]) -> dict:
    by_category: dict[str, int] = {}
    for f in findings:
        by_category[f["category_name"]] = by_category.get(f["category_name"], 0) + 1
    return {
        "total": len(findings),
        "by_severity": {s: sum(f["severity"] == s for f in findings) for s in SEVERITIES},
        "by_category": dict(sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def severity_phrase(by_severity: dict) -> str:
    """``2 fel, 1 varning`` (Swedish)."""
    parts = [f"{n} {s if n == 1 else SEVERITY_PLURAL[s]}" for s, n in by_severity.items() if n]
    return ", ".join(parts) or "inga påpekanden"


@dataclass
class ReviewMeta:
    """Who and what a review is about (for the headings of the reports)."""

    title: str
    partner: str
    partner_name: str
    piece: str
    piece_title: str
    source: str
    sha256: str
    kind: str


def review_json(reviewed: ReviewedText, meta: ReviewMeta, checker: Checker, checked: float) -> dict:
    starts, pos = [], 0
    for b in reviewed.blocks:
        starts.append(pos)
        pos += len(b.text) + len(SEPARATOR)
    return {
        "partner": meta.partner, "piece": meta.piece, "title": meta.title, "source": meta.source,
        "sha256": meta.sha256, "kind": meta.kind,
        "checked": datetime.fromtimestamp(checked, STOCKHOLM).isoformat(timespec="seconds"),
        "engine": checker.description, "engine_id": checker.engine_id,
        "counts": counts(reviewed.findings),
        "words": reviewed.words,
        "text": reviewed.text,
        "blocks": [{"kind": b.kind, "level": b.level, "offset": s, "length": len(b.text), "line": b.line}
                   for b, s in zip(reviewed.blocks, starts)],
        "findings": reviewed.findings,
        "readability": reviewed.readability,
    }


def review_html(reviewed: ReviewedText, meta: ReviewMeta, checker: Checker, checked: float,
                templates: Path, docx_name: str | None) -> str:
    c = counts(reviewed.findings)
    return html_env(templates).get_template("review.html.j2").render(
        meta=meta, findings=reviewed.findings, counts=c, severity=severity_phrase(c["by_severity"]),
        checked=swedish_datetime(checked), engine=checker.description, words=reviewed.words,
        docx_name=docx_name, visible=visible, personal=[f for f in reviewed.findings if f.get("personal")],
        readability=reviewed.readability)


def review_docx(reviewed: ReviewedText, meta: ReviewMeta) -> bytes:
    """The partner's document (or the report's text as one) with a comment per finding."""
    if reviewed.docx is not None:
        doc, paragraphs = reviewed.docx, reviewed.paragraphs
    else:
        note = (f"Språkgranskning av {meta.partner_name}s delrapport {meta.piece} ({meta.source.rsplit('/', 1)[-1]}). "
                "Texten nedan är rapportens text; påpekandena står som kommentarer i marginalen.")
        doc, paragraphs = new_text_document(reviewed.blocks, meta.title, note)
    comment_document(doc, paragraphs, reviewed.findings, comment_text)
    return save(doc)


def review_keys(partner: str, piece: str) -> dict[str, str]:
    """Where a report's review goes: ``review/<partner>/<piece>.json|html|docx``."""
    base = f"review/{partner}/{piece}"
    return {"json": f"{base}.json", "html": f"{base}.html", "docx": f"{base}.docx"}
