"""The review's settings (``templates/review.toml`` plus the partner names) and the
project dictionary.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field

from tasks import __version__
from tasks.core.config import Array, Config, Positive, Registry, Table, Text, read_config
from tasks.personal.rules import PersonalRules, load_rules
from tasks.review.checker import CheckerTuning
from tasks.review.housestyle import HouseStyle, load_house_style
from tasks.review.variants import TermList, load_terms

REVIEW_FORMAT = "1"
Severity = Literal["fel", "varning", "tips"]
SEVERITIES = get_args(Severity)
# LanguageTool's issue types (the localization quality issue types of ITS 2.0).
IssueType = Literal["terminology", "mistranslation", "omission", "untranslated", "addition", "duplication",
                    "inconsistency", "grammar", "legal", "register", "locale-specific-content", "locale-violation",
                    "style", "characters", "misspelling", "typographical", "formatting", "inconsistent-entities",
                    "numbers", "markup", "pattern-problem", "whitespace", "internationalization", "length",
                    "non-conformance", "uncategorized", "other"]


# --- review.toml ------------------------------------------------------------------------------


class DictionaryTable(Table):
    """``[dictionary]``: words never reported as misspellings, and the endings they may take."""

    words: Array[Text] = ()
    endings: Array[Text] = ()


class RulesTable(Table):
    """``[rules]``: rules switched off, allowed at the start of a list item, or kept only in paragraphs."""

    disabled: Array[Text] = ()
    allowed_at_item_start: Array[Text] = ()
    only_in_paragraphs: Array[Text] = ()
    max_suggestions: Positive = 5
    # Finding categories never reported (house style, term list: their category names).
    disabled_categories: Array[Text] = ()


class ReadabilityTable(Table):
    """``[readability]``: sentences longer than this many words are listed."""

    long_sentence_words: int = Field(30, ge=5)


class SeverityTable(Table):
    """``[severity]``: "fel", "varning" or "tips", by rule id, by issue type, or else the default."""

    default: Severity = "varning"
    issue_types: dict[IssueType, Severity] = {}
    rules: dict[str, Severity] = {}  # LanguageTool rule ids: any id a checker may report


class EmbeddedTable(Table):
    """``[embedded]``: the in-process checker."""

    workers: int = Field(0, ge=0)
    min_words_for_workers: int = Field(1500, ge=0)


class ServerTable(Table):
    """``[server]``: a LanguageTool server (used only when ``LANGUAGETOOL_URL`` is set)."""

    max_parallel_requests: int = Field(2, ge=1)
    timeout_seconds: float = Field(60, ge=1)
    retries: int = Field(2, ge=0)
    retry_delay_seconds: float = Field(1, ge=0)
    max_request_chars: int = Field(20000, ge=100)


class ModelTable(Table):
    """``[model]``: the learned error detector beside the rules (tasks/review/detector.py)."""

    enabled: bool = True
    # None: the threshold chosen on MultiGED dev when the model was trained (stored with it).
    threshold: float | None = Field(None, gt=0, lt=1)
    # A grammar rule's finding (templates/regler/) is dropped when the model gives its words less
    # than this chance of being wrong (0: never).
    veto: float = Field(0.0, ge=0, lt=1)
    # In text written with many errors (the rules find at least dense_from findings per 100 words
    # within dense_window paragraphs either side) the model reports from dense_threshold instead
    # (docs/language-review.md).
    # Left out: the threshold above everywhere.
    dense_threshold: float | None = Field(None, gt=0, lt=1)
    dense_from: float = Field(2.5, gt=0)
    dense_window: int = Field(20, ge=0)


class ReviewFile(Table):
    """``templates/review.toml``."""

    language: Text = "sv-SE"
    dictionary: DictionaryTable = DictionaryTable()
    rules: RulesTable = RulesTable()
    severity: SeverityTable = SeverityTable()
    embedded: EmbeddedTable = EmbeddedTable()
    server: ServerTable = ServerTable()
    readability: ReadabilityTable = ReadabilityTable()
    model: ModelTable = ModelTable()


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
    house_style: HouseStyle | None = None  # templates/husstil.toml
    terms: TermList | None = None  # templates/termer.toml
    disabled_categories: tuple[str, ...] = ()  # finding categories never reported (rules.disabled_categories)
    long_sentence_words: int = 30  # readability.long_sentence_words: longer sentences are listed
    only_in_paragraphs: tuple[str, ...] = ()  # rules not reported in headings, list items, table cells
    detector: bool = False  # model.enabled: the learned detector adds its findings
    detector_threshold: float | None = None  # model.threshold (None: the model's own)
    detector_veto: float = 0.0  # model.veto: grammar-rule findings the model overrules
    detector_dense_threshold: float | None = None  # model.dense_threshold: in error-dense text (None: off)
    detector_dense_from: float = 2.5  # model.dense_from: rule findings per 100 words that make text dense
    detector_dense_window: int = 20  # model.dense_window: paragraphs either side counted

    def severity(self, rule_id: str, issue_type: str) -> str:
        return self.severity_rules.get(rule_id) or self.severity_issue_types.get(issue_type) or self.severity_default


def check_templates(config: Config) -> None:
    """Read the configuration files beyond ``config`` (``review.toml`` and ``personuppgifter.toml``),
    so that a mistake in any file of ``templates/`` fails a command or a run before any work,
    not halfway through it."""
    load_review_settings(config.templates, config.registry)


def load_review_settings(templates: Path | str, registry: Registry) -> ReviewSettings:
    """Read and validate ``review.toml`` (and ``personuppgifter.toml``); partner names join the dictionary."""
    path = Path(templates) / "review.toml"
    data = read_config(path, ReviewFile)
    words = list(data.dictionary.words)
    for partner in registry.partners:
        words += [partner.name, partner.short]
    terms = load_terms(templates)
    words += [t.preferred for t in terms.terms]  # the variants get a finding of their own (TERMER)
    endings = data.dictionary.endings
    tuning = CheckerTuning(
        language=data.language, disabled_rules=data.rules.disabled,
        workers=data.embedded.workers,
        min_words_for_workers=data.embedded.min_words_for_workers,
        max_parallel_requests=data.server.max_parallel_requests,
        timeout_seconds=float(data.server.timeout_seconds),
        retries=data.server.retries,
        retry_delay_seconds=float(data.server.retry_delay_seconds),
        max_request_chars=data.server.max_request_chars,
        spelling_words=spelling_forms(words, list(endings)),
        rule_files=tuple(str(f) for f in project_rule_files(templates)),
    )
    page = Path(templates) / "review.html.j2"
    style = Path(templates) / "husstil.toml"
    personal = load_rules(templates, registry)
    fingerprint = hashlib.sha256(json.dumps(
        [path.read_text(encoding="utf-8"), page.read_text(encoding="utf-8") if page.exists() else "",
         style.read_text(encoding="utf-8") if style.exists() else "",
         [(t.preferred, t.variants) for t in terms.terms],
         sorted(set(words)), REVIEW_FORMAT, __version__, personal.fingerprint,
         model_digest() if data.model.enabled else ""]).encode()).hexdigest()
    return ReviewSettings(
        language=data.language, words=tuple(dict.fromkeys(words)),
        endings=tuple(sorted(set(endings), key=len, reverse=True)),
        disabled_rules=data.rules.disabled,
        allowed_at_item_start=data.rules.allowed_at_item_start,
        max_suggestions=data.rules.max_suggestions,
        severity_default=data.severity.default,
        severity_issue_types=dict(data.severity.issue_types), severity_rules=dict(data.severity.rules),
        tuning=tuning, fingerprint=fingerprint[:16], personal=personal,
        house_style=load_house_style(templates), terms=terms,
        disabled_categories=data.rules.disabled_categories,
        long_sentence_words=data.readability.long_sentence_words,
        only_in_paragraphs=data.rules.only_in_paragraphs,
        detector=data.model.enabled, detector_threshold=data.model.threshold, detector_veto=data.model.veto,
        detector_dense_threshold=data.model.dense_threshold, detector_dense_from=data.model.dense_from,
        detector_dense_window=data.model.dense_window,
    )


def model_digest() -> str:
    """Identifies the shipped model (its training record), so a retrained model re-reviews reports."""
    from tasks.review.detector import META_FILE, MODEL_DIR

    path = MODEL_DIR / META_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "no model"


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


def project_rule_files(templates: Path | str) -> list[Path]:
    """The project's grammar rules for the embedded engine (``templates/regler/*.xml``)."""
    return sorted((Path(templates) / "regler").glob("*.xml"))


def is_spelling(finding) -> bool:
    return finding.issue_type == "misspelling" or finding.category_id == "TYPOS"


