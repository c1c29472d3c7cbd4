"""One report's review in the pipeline, and one file at a desk (``utkast review FILE``)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.core.config import Config
from tasks.core.errors import UtkastError
from tasks.core.slots import Slot
from tasks.intake.inbox import InboxFile
from tasks.intake.normalise import Report, convert_files
from tasks.intake.screening import screen_file
from tasks.personal.mask import scan_ast
from tasks.review.access import add_accessibility_findings
from tasks.review.check import ReviewedText, review_source
from tasks.review.checker import Checker, open_checker
from tasks.review.report import (
    MIME_DOCX,
    ReviewMeta,
    counts,
    review_docx,
    review_html,
    review_json,
    review_keys,
    severity_phrase,
    visible,
)
from tasks.review.settings import ReviewSettings, load_review_settings
from tasks.storage.base import Storage
from tasks.storage.local import LocalStorage

# --- one report in the pipeline ---------------------------------------------------------------------


def review_key(report: Report, checker: Checker, settings: ReviewSettings) -> str:
    """Identity of a review: content, engine and settings. Equal keys = nothing to redo."""
    payload = [report.sha256, report.converter, checker.engine_id, settings.fingerprint]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:24]


class ReportChanged(UtkastError):
    """The file in the inbox is no longer the one intake accepted (review it next run)."""


def review_report(inbox: Storage, out: Storage, report: Report, checker: Checker,
                  settings: ReviewSettings, config: Config) -> dict:
    """Review one accepted report, write its three outputs and return its summary.

    Raises ``CheckerUnavailable`` (infrastructure) and ``ReportChanged``; never fails
    because of what the report says.
    """
    try:
        data = inbox.read(report.source)
    except FileNotFoundError:
        raise ReportChanged(f"{report.source} is gone from the inbox") from None
    if hashlib.sha256(data).hexdigest() != report.sha256:
        raise ReportChanged(f"{report.source} changed after intake")
    known = scan_ast(json.loads(out.read(report.ast_key)), settings.personal)[0] if settings.personal else None
    reviewed = review_source(report.kind, data, lambda: out.read_text(report.md_key), checker, settings, known)
    add_accessibility_findings(reviewed, report)  # images without a description, skipped heading levels
    checked = time.time()
    partner = config.registry.by_slug(report.partner)
    meta = ReviewMeta(title=report.title, partner=report.partner, partner_name=partner.short,
                      piece=report.piece, piece_title=config.outline.pieces[report.piece].title,
                      source=report.source, sha256=report.sha256, kind=report.kind)
    keys = review_keys(report.partner, report.piece)
    out.write(keys["docx"], review_docx(reviewed, meta), MIME_DOCX)
    out.write(keys["html"], review_html(reviewed, meta, checker, checked, config.templates,
                                        keys["docx"].rsplit("/", 1)[-1]).encode("utf-8"),
              "text/html; charset=utf-8")
    body = review_json(reviewed, meta, checker, checked)
    out.write(keys["json"], json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    return summarise(body, keys)


def summarise(body: dict, keys: dict[str, str]) -> dict:
    """What the tracker and the manifest carry per report."""
    return {
        "pending": False,
        "findings": body["counts"]["total"],
        "by_severity": body["counts"]["by_severity"],
        "by_category": body["counts"]["by_category"],
        "checked": body["checked"],
        "engine": body["engine"],
        "readability": readability_summary(body.get("readability")),
        **keys,
    }


def readability_summary(figures: dict | None) -> dict | None:
    """The readability figures the tracker and the manifest carry (no sentences)."""
    if not figures:
        return None
    keep = ("lix", "level", "average_sentence_words", "passive_share", "words", "sentences")
    return {k: figures.get(k) for k in keep} | {"long_sentences": len(figures.get("long_sentences", []))}


def pending_summary(reason: str) -> dict:
    return {"pending": True, "findings": None, "reason": reason}


def pending_label(report: Report, config: Config) -> str:
    """``1.3 Myrorna``: how the draft names a report whose review is pending."""
    return Slot(report.partner, report.piece).label({report.partner: config.registry.by_slug(report.partner).short})


# --- one file at a desk (``utkast review FILE``) -------------------------------------------------------


def review_file(path: Path, config: Config, checker: Checker, settings: ReviewSettings) -> tuple[ReviewedText, ReviewMeta]:
    """Review a single file outside the pipeline. Raises ``Rejected`` for a file intake
    would refuse, ``CheckerUnavailable`` when the checker cannot run."""

    path = Path(path)
    data = path.read_bytes()
    screened = screen_file(path.name, data, config.settings.limits)

    def normalised() -> str:
        # The conversion converts only the bytes screening saw: it checks them by their sha256.
        f = InboxFile(key=path.name, size=len(data), modified=0, etag="", name=path.name, kind=screened.kind,
                      sha256=hashlib.sha256(data).hexdigest())
        result = convert_files(LocalStorage(path.parent), [f], config)[path.name]
        if isinstance(result, Exception):
            raise result
        return result.markdown

    reviewed = review_source(screened.kind, data, normalised, checker, settings)
    title = screened.title or path.stem
    meta = ReviewMeta(title=title, partner="", partner_name="", piece="", piece_title="", source=path.name,
                      sha256=hashlib.sha256(data).hexdigest(), kind=screened.kind)
    return reviewed, meta


@dataclass
class DeskReview:
    """One file reviewed at a desk: the review as JSON (``utkast review --json``), as text for a
    terminal, and the files written (none without an output folder)."""

    json: dict
    text: str
    written: list[Path]


def review_at_desk(path: Path, config: Config, out_dir: Path | None = None) -> DeskReview:
    """``utkast review FILE``: review one file with the configured checker (a LanguageTool server
    when ``LANGUAGETOOL_URL`` is set, else the embedded one); with ``out_dir``, also write
    ``<name>.granskning.docx``, ``.html`` and ``.json`` there. Raises ``Rejected`` for a file
    intake would refuse, ``CheckerUnavailable`` when the checker cannot run."""
    path = Path(path)
    settings = load_review_settings(config.templates, config.registry)
    with open_checker(settings.tuning) as checker:
        reviewed, meta = review_file(path, config, checker, settings)
    checked = time.time()
    body = review_json(reviewed, meta, checker, checked)
    written = []
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{path.stem}.granskning"
        written = [out_dir / f"{stem}.{ext}" for ext in ("html", "docx", "json")]
        written[1].write_bytes(review_docx(reviewed, meta))
        written[0].write_text(review_html(reviewed, meta, checker, checked, config.templates, f"{stem}.docx"),
                              encoding="utf-8")
        written[2].write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
    return DeskReview(body, format_findings(reviewed, path.name), written)


def format_findings(reviewed: ReviewedText, name: str) -> str:
    """The findings as text for a terminal (Swedish, like everything partners read)."""
    c = counts(reviewed.findings)
    total = c["total"]
    lines = [f"Språkgranskning av {name}: {total} {'påpekande' if total == 1 else 'påpekanden'}"
             + (f" ({severity_phrase(c['by_severity'])})" if total else "") + f", {reviewed.words} ord"]
    for f in reviewed.findings:
        where = f"Stycke {f['paragraph']}" + (f" (rad {f['line']})" if f["line"] else "")
        start = f["block_offset"] + 1
        lines += ["", f"{f['id']}. {where}, tecken {start}–{start + f['length'] - 1}: ”{visible(f['text'])}”"
                  f"  [{f['severity']}, {f['category_name']}]",
                  f"   {f['message']}"]
        if f["suggestions"]:
            lines.append("   Förslag: " + " eller ".join(f"”{visible(s)}”" for s in f["suggestions"]))
        ctx = f["context"]
        lines.append("   " + " ".join((ctx["text"][:ctx["offset"]] + "[" + ctx["text"][ctx["offset"]:ctx["offset"] + ctx["length"]]
                                       + "]" + ctx["text"][ctx["offset"] + ctx["length"]:]).split("\n")))
    return "\n".join(lines)
