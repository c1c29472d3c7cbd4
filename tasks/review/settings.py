"""The review's settings (``templates/review.toml`` plus the partner names) and the
project dictionary.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tasks import __version__
from tasks.core.config import Registry, _get, _read_toml
from tasks.core.errors import ConfigError
from tasks.personal.rules import PersonalRules, load_rules
from tasks.review.checker import CheckerTuning
from tasks.review.housestyle import HouseStyle, load_house_style
from tasks.review.variants import TermList, load_terms

REVIEW_FORMAT = "1"
SEVERITIES = ("fel", "varning", "tips")


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
    terms = load_terms(templates)
    words += [t.preferred for t in terms.terms]  # the variants get a finding of their own (TERMER)
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
        rule_files=tuple(str(f) for f in project_rule_files(templates)),
    )
    page = Path(templates) / "review.html.j2"
    style = Path(templates) / "husstil.toml"
    personal = load_rules(templates, registry)
    fingerprint = hashlib.sha256(json.dumps(
        [path.read_text(encoding="utf-8"), page.read_text(encoding="utf-8") if page.exists() else "",
         style.read_text(encoding="utf-8") if style.exists() else "",
         [(t.preferred, t.variants) for t in terms.terms],
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
        house_style=load_house_style(templates), terms=terms,
        disabled_categories=tuple(_strings(rules, "disabled_categories", path, "rules.")),
        long_sentence_words=int(_number(_readability_table(data, path), "long_sentence_words", 30, path,
                                         "readability.", 5)),
    )


def _readability_table(data: dict, path: Path) -> dict:
    table = _get(data, "readability", dict, path, "", default={})
    for key in table:
        if key != "long_sentence_words":
            raise ConfigError(str(path), f"readability.{key}", "unknown key")
    return table


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


