"""Swedish language review of an accepted report: check its text, drop what the project
dictionary and the rule settings say to ignore, and write what partners read.

Per report (``review/<partner>/<piece>.*``):

- ``.json``: the checked text and every finding (offset and length in that text, the
  words, context, message, rule, category, severity, suggestions);
- ``.html``: a readable Swedish report, each finding with its sentence and a count by category;
- ``.docx``: the partner's own Word document (or, for other formats, the report's text as
  a Word document) with each finding as a comment on the words it is about.

A review is keyed by (the report's content hash, the checker's engine, the settings), so an
unchanged report is never reviewed twice. The settings are ``templates/review.toml`` plus
the partner names of ``partners.toml`` (which are always in the dictionary).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tasks import __version__
from tasks.checker import Checker, CheckerTuning
from tasks.config import Config, Registry, _get, _read_toml
from tasks.errors import ConfigError, UtkastError
from tasks.normalise import Report
from tasks.personal import Finding as PersonalFinding
from tasks.personal import PersonalRules, load_rules, scan_ast
from tasks.personal_review import personal_findings
from tasks.review_docx import DocxParagraph, comment_document, new_text_document, open_docx, save
from tasks.review_docx import docx_paragraphs
from tasks.review_text import Block, blocks_from_markdown, blocks_from_normalised, blocks_from_odt
from tasks.screening import decode_text
from tasks.storage import Storage
from tasks.templating import STOCKHOLM, html_env, swedish_datetime

# Bump when the review outputs change shape: every report is then reviewed again.
REVIEW_FORMAT = "1"
SEVERITIES = ("fel", "varning", "tips")
SEVERITY_PLURAL = {"fel": "fel", "varning": "varningar", "tips": "tips"}
SEPARATOR = "\n\n"  # between blocks in the checked text of a whole document
MIME_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewSettings:
    """``templates/review.toml`` (validated) plus the partner names."""

    language: str
    words: tuple[str, ...]
    endings: tuple[str, ...]
    disabled_rules: tuple[str, ...]
    allowed_at_item_start: tuple[str, ...]
    max_suggestions: int
    severity_default: str
    severity_issue_types: dict[str, str]
    severity_rules: dict[str, str]
    tuning: CheckerTuning
    fingerprint: str
    personal: PersonalRules | None = None  # personal data: reported to the partner, hidden from the checker

    def severity(self, rule_id: str, issue_type: str) -> str:
        return self.severity_rules.get(rule_id) or self.severity_issue_types.get(issue_type) or self.severity_default


def _strings(table: dict, key: str, path: Path, where: str) -> list[str]:
    values = _get(table, key, list, path, where, default=[])
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(str(path), f"{where}{key}", f"{v!r} must be a non-empty string")
    return values


def _severity(value, path: Path, key: str) -> str:
    if value not in SEVERITIES:
        raise ConfigError(str(path), key, f"{value!r} must be one of {', '.join(SEVERITIES)}")
    return value


def _number(table: dict, key: str, default, path: Path, where: str, minimum=0):
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(str(path), f"{where}{key}", f"must be a number >= {minimum}, got {value!r}")
    return value


def load_review_settings(templates: Path | str, registry: Registry) -> ReviewSettings:
    """Read and validate ``review.toml``; partner names join the dictionary."""
    path = Path(templates) / "review.toml"
    data = _read_toml(path)
    language = _get(data, "language", str, path, "", default="sv-SE")
    dictionary = _get(data, "dictionary", dict, path, "", default={})
    rules = _get(data, "rules", dict, path, "", default={})
    severity = _get(data, "severity", dict, path, "", default={})
    embedded = _get(data, "embedded", dict, path, "", default={})
    server = _get(data, "server", dict, path, "", default={})
    words = _strings(dictionary, "words", path, "dictionary.")
    for partner in registry.partners:
        words += [partner.name, partner.short]
    endings = _strings(dictionary, "endings", path, "dictionary.")
    issue_types = _get(severity, "issue_types", dict, path, "severity.", default={})
    by_rule = _get(severity, "rules", dict, path, "severity.", default={})
    for table, where in ((issue_types, "severity.issue_types."), (by_rule, "severity.rules.")):
        for key, value in table.items():
            _severity(value, path, f"{where}{key}")
    disabled = tuple(_strings(rules, "disabled", path, "rules."))
    tuning = CheckerTuning(
        language=language, disabled_rules=disabled,
        workers=int(_number(embedded, "workers", 0, path, "embedded.")),
        min_words_for_workers=int(_number(embedded, "min_words_for_workers", 1500, path, "embedded.")),
        max_parallel_requests=int(_number(server, "max_parallel_requests", 2, path, "server.", 1)),
        timeout_seconds=float(_number(server, "timeout_seconds", 60, path, "server.", 1)),
        retries=int(_number(server, "retries", 2, path, "server.")),
        retry_delay_seconds=float(_number(server, "retry_delay_seconds", 1, path, "server.")),
        max_request_chars=int(_number(server, "max_request_chars", 20000, path, "server.", 100)),
        spelling_words=spelling_forms(words, endings),
    )
    page = Path(templates) / "review.html.j2"
    personal = load_rules(templates, registry)
    fingerprint = hashlib.sha256(json.dumps(
        [path.read_text(encoding="utf-8"), page.read_text(encoding="utf-8") if page.exists() else "",
         sorted(set(words)), REVIEW_FORMAT, __version__, personal.fingerprint]).encode()).hexdigest()
    return ReviewSettings(
        language=language, words=tuple(dict.fromkeys(words)),
        endings=tuple(sorted(set(endings), key=len, reverse=True)),
        disabled_rules=disabled,
        allowed_at_item_start=tuple(_strings(rules, "allowed_at_item_start", path, "rules.")),
        max_suggestions=int(_number(rules, "max_suggestions", 5, path, "rules.", 1)),
        severity_default=_severity(severity.get("default", "varning"), path, "severity.default"),
        severity_issue_types=dict(issue_types), severity_rules=dict(by_rule),
        tuning=tuning, fingerprint=fingerprint[:16], personal=personal,
    )


# --- the project dictionary -----------------------------------------------------------------------


class Dictionary:
    """Words never reported as misspellings, with the forms they cover (see ``review.toml``)."""

    def __init__(self, words: tuple[str, ...], endings: tuple[str, ...]):
        self.endings = endings
        self.exact = {w for w in words if " " not in w}
        self.upper = {w.upper() for w in self.exact}
        ending = "|".join(re.escape(e) for e in endings)
        self.phrases = [re.compile(r"(?<!\w)" + r"\s+".join(re.escape(part) for part in w.split())
                                   + rf"(?:{ending})?(?!\w)", re.I) for w in words if " " in w]

    def accepts(self, token: str) -> bool:
        """Is ``token`` an entry, or an entry with one of the endings / an initial capital / in capitals?"""
        if not token:
            return False
        folded = token.lower()
        candidates = [token] + [token[:-len(e)] for e in self.endings
                                if len(token) > len(e) + 1 and folded.endswith(e)]
        if ":" in token:  # "ESF:s"
            base, _, tail = token.partition(":")
            if tail.lower() in self.endings or not tail:
                candidates.append(base)
        for c in candidates:
            if c in self.exact or (c.isupper() and c in self.upper):
                return True
            if c[:1].isupper() and c[:1].lower() + c[1:] in self.exact:
                return True
        return False

    def compound_rest(self, text: str, start: int, end: int) -> list[str] | None:
        """For a finding on a whole hyphenated compound with a dictionary word in it
        (``Kooptjänst-projekett``): its other parts, which must be checked on their own.
        None when that is not the case."""
        word = text[start:end].strip()
        parts = word.split("-")
        if len(parts) < 2 or not any(self.accepts(p) for p in parts):
            return None
        return [p for p in parts if p and not self.accepts(p)]

    def covers(self, text: str, start: int, end: int) -> bool:
        """Does the dictionary account for the flagged ``text[start:end]``?"""
        word = text[start:end].strip()
        if self.accepts(word):
            return True
        a, b = start, end
        while a > 0 and (text[a - 1].isalnum() or text[a - 1] in "-:"):
            a -= 1
        while b < len(text) and (text[b].isalnum() or text[b] in "-:"):
            b += 1
        token = text[a:b].strip("-:")
        if token != word and self.accepts(token):
            return True
        # A finding on one part of a hyphenated compound that is a dictionary word.
        pos = a + (len(text[a:b]) - len(text[a:b].lstrip("-:")))
        for part in token.split("-"):
            if part and start >= pos and end <= pos + len(part) and self.accepts(part):
                return True
            pos += len(part) + 1
        for phrase in self.phrases:
            for m in phrase.finditer(text):
                if m.start() <= start and end <= m.end():
                    return True
        return False


def spelling_forms(words: list[str], endings: list[str]) -> tuple[str, ...]:
    """The single-word forms the dictionary accepts, for the embedded speller's word list."""
    forms = set()
    for word in words:
        if " " in word:
            continue
        for base in {word, *word.split("-")} - {""}:
            forms.add(base)
            forms.update(base + e for e in endings)
    return tuple(sorted(forms))


def is_spelling(finding) -> bool:
    return finding.issue_type == "misspelling" or finding.category_id == "TYPOS"


# --- checking a document -------------------------------------------------------------------------


@dataclass
class ReviewedText:
    """The blocks checked and the findings kept (offsets into :attr:`text`)."""

    blocks: list[Block]
    findings: list[dict]
    docx: object | None = None  # the partner's own Word document, when it came as one
    paragraphs: list[DocxParagraph] = field(default_factory=list)

    @property
    def text(self) -> str:
        return SEPARATOR.join(b.text for b in self.blocks)

    @property
    def words(self) -> int:
        return sum(len(b.text.split()) for b in self.blocks)


def review_blocks(blocks: list[Block], checker: Checker, settings: ReviewSettings,
                  dictionary: Dictionary | None = None) -> list[dict]:
    """Check ``blocks`` and return the findings a partner should see, in text order."""
    dictionary = dictionary or Dictionary(settings.words, settings.endings)
    results = checker.check([b.checked_text() for b in blocks])
    findings, base = [], 0
    compounds = []  # (record, parts to check alone)
    for index, (block, found) in enumerate(zip(blocks, results)):
        for f in found:
            start, end = f.offset, f.offset + f.length
            if f.rule_id in settings.disabled_rules:
                continue
            if start == 0 and block.kind in ("item", "cell") and f.rule_id in settings.allowed_at_item_start:
                continue
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
    findings.sort(key=lambda r: (r["offset"], r["length"]))
    for n, record in enumerate(findings, start=1):
        record["id"] = n
    return findings


def _record(block: Block, index: int, base: int, start: int, end: int, f, settings: ReviewSettings) -> dict:
    context = _context(block, start, end, f.sentence)
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


def _context(block: Block, start: int, end: int, sentence: str) -> dict:
    """The sentence the finding is in (as the checker split it), else the words around it."""
    checked = block.checked_text()
    sentence = sentence.strip()
    if sentence:
        pos = checked.find(sentence)
        while pos != -1:
            if pos <= start and end <= pos + len(sentence):
                return {"text": block.text[pos:pos + len(sentence)], "offset": start - pos,
                        "length": end - start, "sentence": True}
            pos = checked.find(sentence, pos + 1)
    left = max(0, start - 60)
    right = min(len(block.text), end + 60)
    while left > 0 and not block.text[left - 1].isspace() and start - left < 80:
        left -= 1
    while right < len(block.text) and not block.text[right].isspace() and right - end < 80:
        right += 1
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(block.text) else ""
    return {"text": prefix + block.text[left:right] + suffix, "offset": len(prefix) + start - left,
            "length": end - start, "sentence": False}


def read_review_text(kind: str, data: bytes, normalised) -> ReviewedText:
    """The blocks to check for a report that came as ``kind`` (see :mod:`tasks.review_text`).

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
    if private:
        reviewed.findings = sorted(reviewed.findings + private, key=lambda r: (r["offset"], r["length"]))
        for n, record in enumerate(reviewed.findings, start=1):
            record["id"] = n
    return reviewed


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
    }


def review_html(reviewed: ReviewedText, meta: ReviewMeta, checker: Checker, checked: float,
                templates: Path, docx_name: str | None) -> str:
    c = counts(reviewed.findings)
    return html_env(templates).get_template("review.html.j2").render(
        meta=meta, findings=reviewed.findings, counts=c, severity=severity_phrase(c["by_severity"]),
        checked=swedish_datetime(checked), engine=checker.description, words=reviewed.words,
        docx_name=docx_name, visible=visible, personal=[f for f in reviewed.findings if f.get("personal")])


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


# --- one report in the pipeline ---------------------------------------------------------------------


def review_keys(partner: str, piece: str) -> dict[str, str]:
    base = f"review/{partner}/{piece}"
    return {"json": f"{base}.json", "html": f"{base}.html", "docx": f"{base}.docx"}


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
        **keys,
    }


def pending_summary(reason: str) -> dict:
    return {"pending": True, "findings": None, "reason": reason}


def pending_label(report: Report, config: Config) -> str:
    """``1.3 (Myrorna)``: how the draft names a report whose review is pending."""
    return f"{report.piece} ({config.registry.by_slug(report.partner).short})"


# --- one file at a desk (``utkast review FILE``) -------------------------------------------------------


def review_file(path: Path, config: Config, checker: Checker, settings: ReviewSettings) -> tuple[ReviewedText, ReviewMeta]:
    """Review a single file outside the pipeline. Raises ``Rejected`` for a file intake
    would refuse, ``CheckerUnavailable`` when the checker cannot run."""
    from tasks.intake import InboxFile
    from tasks.normalise import convert_files
    from tasks.screening import screen_file
    from tasks.storage import LocalStorage

    path = Path(path)
    data = path.read_bytes()
    screened = screen_file(path.name, data, config.settings.limits)

    def normalised() -> str:
        f = InboxFile(key=path.name, size=len(data), modified=0, etag="", name=path.name, kind=screened.kind)
        result = convert_files(LocalStorage(path.parent), [f], config)[path.name]
        if isinstance(result, Exception):
            raise result
        return result.markdown

    reviewed = review_source(screened.kind, data, normalised, checker, settings)
    title = screened.title or path.stem
    meta = ReviewMeta(title=title, partner="", partner_name="", piece="", piece_title="", source=path.name,
                      sha256=hashlib.sha256(data).hexdigest(), kind=screened.kind)
    return reviewed, meta


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
