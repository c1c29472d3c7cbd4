"""Personal data in partner reports: find it, and mask it before a report reaches the draft.

The reports describe people in work training. A personal identity number, phone number,
e-mail address, street address or a participant's name that a partner pastes into a report
must not be published to reviewers. This module finds them and replaces each with a mask
(``[personnummer borttaget]``) in the report's pandoc AST, which is what ``sections/`` and
``drafts/`` are made from. Nothing is sent anywhere: it is regular expressions and two
libraries with their data inside the wheel.

- Personal identity numbers (personnummer, samordningsnummer = day + 60), 10 or 12 digits,
  with ``-``/``+``/space or without a separator: a candidate counts only with a valid date
  and Luhn check digit (``python-stdnum``: ``stdnum.se.personnummer`` and ``stdnum.luhn``), so
  dates, amounts and organisation numbers (month + 20, e.g. 802002-4280) are left alone.
- Phone numbers: Google's libphonenumber (``phonenumbers``) finds Swedish numbers in text
  (``PhoneNumberMatcher``, region SE, valid numbers only); only numbers written as a person
  would (starting with 0 or +) of the types in ``personuppgifter.toml`` (service numbers
  such as 0771-… are kept).
- E-mail addresses (except role addresses like ``info@``), also in ``mailto:`` links.
- Street addresses: a street and house number followed by postcode and town, or a street
  name with a known suffix (``-gatan``, ``-vägen``, …) and a house number.
- Names next to a word that marks a participant (``deltagaren Anna Svensson``, ``Omar,
  en av praktikanterna``), a name in a table column headed ``Deltagare``/``Namn``, and
  then every other mention of those names in the same report.
- Extra regular expressions from ``personuppgifter.toml``.

Pandoc splits text into ``Str``/``Space`` tokens, so matching runs over the text of a whole
inline sequence (a paragraph, heading, table cell, footnote paragraph) with a map back to
the tokens; a match over several tokens leaves the mask in the first and removes the rest.

A :class:`Finding` holds the value found: it is shown only to the partner who wrote it
(their review report). Everything the coordinator sees (tracker, manifest, artifacts, logs)
comes from :func:`summarise`: kinds, counts and places, never values.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from tasks.config import Config, ConfigError, Registry, _get, _read_toml
from tasks.normalise import workers

RULES_FILE = "personuppgifter.toml"
# Bump when detection or masking changes in code: drafts and reviews are then made anew.
DETECTOR_VERSION = "1"
KINDS = ("personnummer", "samordningsnummer", "telefon", "epost", "adress", "namn")
PHONE_TYPES = ("FIXED_LINE", "MOBILE", "FIXED_LINE_OR_MOBILE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST",
               "VOIP", "PERSONAL_NUMBER", "PAGER", "UAN", "VOICEMAIL", "UNKNOWN")


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    kind: str
    regex: re.Pattern


@dataclass(frozen=True)
class PersonalRules:
    """``templates/personuppgifter.toml``, validated, plus the partners' names."""

    labels: dict[str, str]
    plurals: dict[str, str]
    masks: dict[str, str]
    phone_types: frozenset[str]
    keep_local_parts: frozenset[str]
    street_suffixes: tuple[str, ...]
    markers: tuple[str, ...]
    connectors: tuple[str, ...]
    before_marker: tuple[str, ...]
    verbs: tuple[str, ...]
    roles: tuple[str, ...]
    column_headers: frozenset[str]
    particles: frozenset[str]
    not_names: frozenset[str]
    keep: frozenset[str]
    patterns: tuple[Pattern, ...]
    fingerprint: str

    def label(self, kind: str) -> str:
        return self.labels.get(kind, kind)

    def mask(self, kind: str) -> str:
        return self.masks[kind]


def _strings(table: dict, key: str, path: Path, where: str, default=()) -> list[str]:
    values = _get(table, key, list, path, where, default=list(default))
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(str(path), f"{where}{key}", f"{v!r} must be a non-empty string")
    return values


def fold(word: str) -> str:
    return unicodedata.normalize("NFC", word).strip().casefold()


def load_rules(templates: Path | str, registry: Registry) -> PersonalRules:
    """Read and validate ``personuppgifter.toml``; the partners' names are never names."""
    path = Path(templates) / RULES_FILE
    data = _read_toml(path)
    kinds = _get(data, "kinds", dict, path, "")
    labels, plurals, masks = {}, {}, {}
    for kind in KINDS:
        table = _get(kinds, kind, dict, path, "kinds.")
        labels[kind] = _get(table, "label", str, path, f"kinds.{kind}.")
        plurals[kind] = _get(table, "plural", str, path, f"kinds.{kind}.", default=labels[kind])
        masks[kind] = _get(table, "mask", str, path, f"kinds.{kind}.")
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(str(path), f"kinds.{kind}", f"unknown kind; use one of {', '.join(KINDS)} "
                              "(add a pattern under [[patterns]] for anything else)")
    phone = _get(data, "phone", dict, path, "", default={})
    phone_types = _strings(phone, "types", path, "phone.", default=PHONE_TYPES)
    for t in phone_types:
        if t not in PHONE_TYPES:
            raise ConfigError(str(path), "phone.types", f"unknown number type {t!r}; use {', '.join(PHONE_TYPES)}")
    email = _get(data, "email", dict, path, "", default={})
    address = _get(data, "address", dict, path, "", default={})
    names = _get(data, "names", dict, path, "", default={})
    keep = _get(data, "keep", dict, path, "", default={})
    not_names = {fold(w) for w in _strings(names, "not_names", path, "names.")}
    for key in ("markers", "roles", "column_headers"):  # the marker words themselves are never names
        not_names.update(fold(w) for phrase in _strings(names, key, path, "names.") for w in phrase.split())
    for partner in registry.partners:
        for name in (partner.name, partner.short, partner.slug, *partner.aliases):
            not_names.update(fold(w) for w in re.split(r"[\s-]+", name) if w)
    patterns = []
    for i, table in enumerate(_get(data, "patterns", list, path, "", default=[])):
        where = f"patterns[{i}]."
        if not isinstance(table, dict):
            raise ConfigError(str(path), f"patterns[{i}]", "must be a table")
        kind = _get(table, "kind", str, path, where)
        if kind in KINDS:
            raise ConfigError(str(path), f"{where}kind", f"{kind!r} is built in; choose another name")
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", kind):
            raise ConfigError(str(path), f"{where}kind", f"{kind!r} must be lower-case letters, digits, - or _")
        labels[kind] = _get(table, "label", str, path, where)
        plurals[kind] = _get(table, "plural", str, path, where, default=labels[kind])
        masks[kind] = _get(table, "mask", str, path, where)
        source = _get(table, "regex", str, path, where)
        try:
            regex = re.compile(source)
        except re.error as exc:
            raise ConfigError(str(path), f"{where}regex", f"not a valid regular expression ({exc})") from None
        if regex.search(""):
            raise ConfigError(str(path), f"{where}regex", "matches the empty text")
        patterns.append(Pattern(kind, regex))
    fingerprint = hashlib.sha256(json.dumps(
        [path.read_text(encoding="utf-8"), sorted(not_names), DETECTOR_VERSION, _library_versions()]
    ).encode()).hexdigest()[:16]
    return PersonalRules(
        labels=labels, plurals=plurals, masks=masks, phone_types=frozenset(phone_types),
        keep_local_parts=frozenset(fold(w) for w in _strings(email, "keep_local_parts", path, "email.")),
        street_suffixes=tuple(sorted({fold(w) for w in _strings(address, "street_suffixes", path, "address.")},
                                     key=len, reverse=True)),
        markers=tuple(sorted({fold(w) for w in _strings(names, "markers", path, "names.")}, key=len, reverse=True)),
        connectors=tuple(sorted({fold(w) for w in _strings(names, "connectors", path, "names.")},
                                key=len, reverse=True)),
        before_marker=tuple(sorted({fold(w) for w in _strings(names, "before_marker", path, "names.")},
                                   key=len, reverse=True)),
        verbs=tuple(sorted({fold(w) for w in _strings(names, "verbs", path, "names.")}, key=len, reverse=True)),
        roles=tuple(sorted({fold(w) for w in _strings(names, "roles", path, "names.")}, key=len, reverse=True)),
        column_headers=frozenset(fold(w) for w in _strings(names, "column_headers", path, "names.")),
        particles=frozenset(fold(w) for w in _strings(names, "particles", path, "names.")),
        not_names=frozenset(not_names),
        keep=frozenset(_strings(keep, "values", path, "keep.")),
        patterns=tuple(patterns),
        fingerprint=fingerprint,
    )


def _library_versions() -> list[str]:
    from importlib.metadata import version

    return [f"{name}-{version(name)}" for name in ("python-stdnum", "phonenumbers")]


def masking_fingerprint(config: Config) -> str:
    """Identity of the masking rules (file, partners, code, libraries): part of every
    draft's fingerprint, so changed rules give a new draft."""
    return load_rules(config.templates, config.registry).fingerprint


# --- finding personal data in text -------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    kind: str
    start: int
    end: int
    value: str


# (CC)YYMMDD, a separator (hyphen and its typographic variants, plus, a space) or none, NNNC.
PNR = re.compile(r"(?<![\w+-])(?<!\d[.,])((?:18|19|20)?\d{6})(?:[ \t\u00a0]?([-–‐‑−+])[ \t\u00a0]?|[ \u00a0])?(\d{4})(?![\w-])")
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?!\w)")
POSTCODE = r"(?:SE-?\s?)?[1-9]\d{2}\s?\d{2}"
UPPER = "A-ZÅÄÖÉÜÆØ"
LOWER = "a-zåäöéèüæøáíóúñç"
TOWN = rf"[{UPPER}][{LOWER}]+(?:[ -][{UPPER}][{LOWER}]+)?"
STREET_WORD = rf"[{UPPER}][{LOWER}{UPPER}.'’-]*"
HOUSE = r"\d{1,4}(?:[A-Za-z]|\s[A-Z])?(?![\w])(?:\s*,?\s*(?:lgh|lägenhet)\.?\s*\d{1,4})?"
NAME_TOKEN = rf"[{UPPER}][{LOWER}'’]*[{LOWER}](?:-[{UPPER}{LOWER}][{LOWER}'’]*[{LOWER}])*"


def _pnr_kind(first: str, sep: str | None, serial: str) -> str | None:
    """personnummer, samordningsnummer or None for a candidate: ``(CC)YYMMDD``, separator, ``NNNC``.

    The check digit (Luhn over the last ten digits) and the date must be valid; a
    samordningsnummer has the day of birth plus 60."""
    from stdnum import luhn
    from stdnum.exceptions import ValidationError
    from stdnum.se import personnummer

    if not luhn.is_valid(first[-6:] + serial):
        return None
    if len(first) == 8 and not 1880 <= int(first[:4]) <= date.today().year:
        return None
    sep = "+" if sep == "+" else "-"  # a missing or typographic separator: under 100 years
    day = int(first[-2:])
    if day > 60:
        try:
            born = personnummer.get_birth_date(first[:-2] + f"{day - 60:02d}" + sep + serial)
        except ValidationError:
            return None
        return "samordningsnummer" if born <= date.today() else None
    if not personnummer.is_valid(first + sep + serial):
        return None
    return "personnummer" if personnummer.get_birth_date(first + sep + serial) <= date.today() else None


def _words_pattern(words) -> str:
    return "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in words) or "(?!)"


class Detector:
    """Finds personal data in a text by the rules; ``names`` are names already known from
    the same report (every mention of them is found too)."""

    def __init__(self, rules: PersonalRules, names: set[str] | None = None):
        self.rules = rules
        particle = _words_pattern(sorted(rules.particles, key=len, reverse=True))
        word = rf"(?:(?:{particle})(?:\s+|-))?(?:{NAME_TOKEN}|[{UPPER}]\.)"  # Ali al-Hassan, Anna S.
        name = rf"{NAME_TOKEN}(?:\s+{word}){{0,2}}"
        full = rf"{NAME_TOKEN}(?:\s+{word}){{1,2}}"
        self.name_only = re.compile(rf"\s*({name})\s*")
        markers = _words_pattern(rules.markers)
        connectors = _words_pattern(rules.connectors)
        between = _words_pattern(rules.before_marker)
        verbs = _words_pattern(rules.verbs)
        roles = _words_pattern(rules.roles)
        # deltagaren Anna Svensson / deltagaren, Anna, / en deltagare som heter Sara / Namn: Anna /
        # Deltagare 3: Omar
        self.after = re.compile(
            rf"(?<![\w])(?i:{markers})(?:\s+(?:nr\.?\s*)?\d{{1,3}})?(?:\s*[,:]\s*|\s+(?i:{connectors})\s+|\s+)"
            rf"(?P<name>{name})(?![\w])")
        # Anna, en av deltagarna / Omar (praktikant) / Omar, praktikanten, berättar /
        # Anna Svensson, deltagare i … / Anna är deltagare / Omar var en av praktikanterna
        self.before = re.compile(
            rf"(?<![\w])(?P<name>{name})(?:\s*\(\s*(?:(?i:{between})\s+)*(?i:{markers})(?![\w])"
            rf"|\s*,\s*(?:(?i:{between})\s+)+(?i:{markers})(?![\w])"
            rf"|\s*,\s*(?i:{markers})\s*[,)]"
            rf"|\s+(?i:{verbs})\s+(?:(?i:en\s+av)(?:\s+(?i:våra|de))?\s+(?i:{markers})|(?i:{roles}))(?![\w]))"
            rf"|(?<![\w])(?P<full>{full})\s*,\s*(?i:{markers})(?![\w])")
        suffix = _words_pattern(rules.street_suffixes)
        street = (rf"(?:(?:{STREET_WORD}\s+){{0,2}}[{UPPER}][{LOWER}{UPPER}-]*?(?:{suffix})"
                  rf"|(?:{STREET_WORD}\s+){{1,2}}(?:{suffix}))")
        self.street = re.compile(rf"(?<![\w]){street}\s+{HOUSE}")
        self.with_postcode = re.compile(
            rf"(?<![\w])(?:{STREET_WORD}\s+){{0,2}}{STREET_WORD}\s+{HOUSE}\s*,?\s+(?P<code>{POSTCODE})\s+{TOWN}(?![\w])")
        self.known = self._known_pattern(names or set())

    def _known_pattern(self, names: set[str]) -> re.Pattern | None:
        forms = set()
        for name in names:
            forms.add(name)
            for word in name.split():
                if len(word) > 1 and not word.endswith(".") and fold(word) not in self.rules.particles | self.rules.not_names:
                    forms.add(word)
        if not forms:
            return None
        alternatives = _words_pattern(sorted(forms, key=len, reverse=True))
        return re.compile(rf"(?<![\w])(?:{alternatives})(?:s)?(?![\w])")

    # names next to marker words
    def trim(self, value: str, start: int, leading: bool) -> tuple[int, str] | None:
        """Drop words that are never names at the start (before a marker: "Igår Anna, en av
        deltagarna"; after one, such a first word means there is no name: "deltagaren
        Arbetsförmedlingen") and particles at the end. Later words stay: surnames may be
        place names too ("Nora Lund")."""
        words = [(m.start(), m.group(0)) for m in re.finditer(r"\S+", value)]
        if leading:
            while words and fold(words[0][1]) in self.rules.not_names:
                words.pop(0)
        elif words and fold(words[0][1]) in self.rules.not_names:
            return None
        while words and fold(words[-1][1]) in self.rules.particles:
            words.pop()
        if not words:
            return None
        a, b = words[0][0], words[-1][0] + len(words[-1][1])
        return start + a, value[a:b]

    def names(self, text: str) -> list[Match]:
        found = []
        for regex, leading in ((self.after, False), (self.before, True)):
            for m in regex.finditer(text):
                group = "name" if m.group("name") else "full"
                trimmed = self.trim(m.group(group), m.start(group), leading)
                if trimmed:
                    start, value = trimmed
                    found.append(Match("namn", start, start + len(value), value))
        return found

    def whole_name(self, text: str) -> str | None:
        """``text`` when it is nothing but a name (a table cell), else None."""
        m = self.name_only.fullmatch(text)
        if not m:
            return None
        trimmed = self.trim(m.group(1), 0, True)
        return trimmed[1] if trimmed and trimmed[1] == m.group(1) else None

    # the other kinds
    def identity_numbers(self, text: str) -> list[Match]:
        found = []
        for m in PNR.finditer(text):
            kind = _pnr_kind(m.group(1), m.group(2), m.group(3))
            if kind:
                found.append(Match(kind, m.start(), m.end(), m.group(0)))
        return found

    def emails(self, text: str) -> list[Match]:
        found = []
        for m in EMAIL.finditer(text):
            value = m.group(0).rstrip(".")
            if fold(value.split("@", 1)[0]) not in self.rules.keep_local_parts:
                found.append(Match("epost", m.start(), m.start() + len(value), value))
        return found

    def phones(self, text: str) -> list[Match]:
        import phonenumbers
        from phonenumbers import Leniency, PhoneNumberMatcher

        found = []
        for m in PhoneNumberMatcher(text, "SE", leniency=Leniency.VALID):
            if m.raw_string.lstrip("(")[:1] not in ("0", "+"):  # amounts and the like are not phone numbers
                continue
            if _phone_type(phonenumbers.number_type(m.number)) in self.rules.phone_types:
                found.append(Match("telefon", m.start, m.end, m.raw_string))
        return found

    def addresses(self, text: str) -> list[Match]:
        from stdnum.se import postnummer

        found = [Match("adress", m.start(), m.end(), m.group(0)) for m in self.with_postcode.finditer(text)
                 if postnummer.is_valid(m.group("code"))]
        found += [Match("adress", m.start(), m.end(), m.group(0)) for m in self.street.finditer(text)]
        return found

    def patterns(self, text: str) -> list[Match]:
        return [Match(p.kind, m.start(), m.end(), m.group(0)) for p in self.rules.patterns
                for m in p.regex.finditer(text) if m.end() > m.start()]

    def find(self, text: str) -> list[Match]:
        """Non-overlapping matches in text order (an earlier kind in KINDS wins, then the longer)."""
        if not text.strip():
            return []
        candidates = (self.identity_numbers(text) + self.emails(text) + self.addresses(text)
                      + self.phones(text) + self.patterns(text) + self.names(text))
        if self.known:
            candidates += [Match("namn", m.start(), m.end(), m.group(0)) for m in self.known.finditer(text)]
        return _non_overlapping([c for c in candidates if c.value not in self.rules.keep])


def _phone_type(value: int) -> str:
    from phonenumbers import PhoneNumberType

    return next((k for k, v in vars(PhoneNumberType).items() if v == value and k in PHONE_TYPES), "UNKNOWN")


def detect(text: str, rules: PersonalRules, names: set[str] | None = None) -> list[Match]:
    """Personal data in ``text`` (see :class:`Detector`)."""
    return Detector(rules, names).find(text)


def _non_overlapping(candidates: list[Match]) -> list[Match]:
    rank = {k: i for i, k in enumerate(KINDS)}
    chosen: list[Match] = []
    for c in sorted(candidates, key=lambda c: (rank.get(c.kind, len(KINDS)), -(c.end - c.start), c.start)):
        if all(c.end <= o.start or c.start >= o.end for o in chosen):
            chosen.append(c)
    return sorted(chosen, key=lambda c: c.start)


def mask_text(text: str, matches: list[Match], rules: PersonalRules) -> str:
    out, pos = [], 0
    for m in matches:
        out.append(text[pos:m.start])
        out.append(rules.mask(m.kind))
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


# --- the report's AST ---------------------------------------------------------------------------------


@dataclass
class Finding:
    """Personal data found in a report. ``value`` is shown only to the partner."""

    kind: str
    value: str
    place: str  # Swedish: "stycke 3", "tabell 1, rad 2, kolumn 1", "fotnot 2", "titeln", "länk i stycke 4"
    context: str = ""  # the paragraph with the value (for the partner)


@dataclass
class _Token:
    node: dict
    parent: list
    text: str
    editable: bool  # Str, Code, Math: its text can be changed


@dataclass
class _Segment:
    """A run of inline text (paragraph, heading, cell, line) and where it is."""

    tokens: list[_Token]
    place: str
    cell: tuple[int, int, int] | None = None  # (table, row, column) of a body cell

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.tokens)


WRAPPERS = {"Emph", "Underline", "Strong", "Strikeout", "Superscript", "Subscript", "SmallCaps"}
SECOND = {"Quoted", "Cite", "Link", "Image", "Span"}  # inlines in c[1]
BREAKS = {"Space": " ", "SoftBreak": " ", "LineBreak": " "}


class _Walker:
    """Splits a pandoc AST (JSON) into segments in document order, footnotes after the
    paragraph that refers to them; links whose target holds personal data are collected."""

    def __init__(self):
        self.segments: list[_Segment] = []
        self.links: list[tuple[dict, list, str]] = []  # (Link node, parent list, place)
        self.paragraphs = self.tables = self.notes = 0
        self.header_columns: dict[int, set[int]] = {}

    # blocks
    def blocks(self, blocks: list, place: str | None = None, cell=None) -> None:
        for block in blocks:
            self.block(block, place, cell)

    def block(self, b: dict, place: str | None, cell) -> None:
        t, c = b.get("t"), b.get("c")
        if t in ("Plain", "Para"):
            self.inline_segment(c, place, cell)
        elif t == "Header":
            self.inline_segment(c[2], place, cell)
        elif t == "LineBlock":
            where, tokens = place or self._next_paragraph(), []
            for i, line in enumerate(c):
                if i:
                    tokens.append(_Token({"t": "LineBreak"}, [], " ", False))
                tokens += self.flatten(line, where)
            self.add(tokens, where, cell)
        elif t in ("CodeBlock", "RawBlock"):
            self.add([_Token(b, [], c[1], True)], place, cell)
        elif t in ("BlockQuote", "BulletList"):
            if t == "BlockQuote":
                self.blocks(c, place, cell)
            else:
                for item in c:
                    self.blocks(item, place, cell)
        elif t == "OrderedList":
            for item in c[1]:
                self.blocks(item, place, cell)
        elif t == "DefinitionList":
            for term, definitions in c:
                self.inline_segment(term, place, cell)
                for d in definitions:
                    self.blocks(d, place, cell)
        elif t == "Div":
            self.blocks(c[1], place, cell)
        elif t == "Figure":
            self.blocks(c[1][1], place, cell)
            self.blocks(c[2], place, cell)
        elif t == "Table":
            self.table(c, place)

    def table(self, c: list, place: str | None) -> None:
        self.tables += 1
        number = self.tables
        _, caption, _, head, bodies, foot = c
        self.blocks(caption[1], place or f"tabell {number}")
        rows = list(head[1])
        header_rows = len(rows) or 1  # without a header row, the first row names the columns
        for body in bodies:
            rows += body[2] + body[3]
        rows += foot[1]
        for r, row in enumerate(rows, start=1):
            col = 1
            for cell in row[1]:
                is_header = r <= header_rows
                if is_header:
                    self.header_cell(number, col, cell[4])
                self.blocks(cell[4], place or f"tabell {number}, rad {r}, kolumn {col}",
                            None if is_header else (number, r, col))
                col += max(cell[3], 1)

    def header_cell(self, table: int, col: int, blocks: list) -> None:
        w = _Walker()
        w.blocks(blocks, "-")
        text = " ".join(s.text for s in w.segments)
        self.header_columns.setdefault(table, set()).add((col, fold(text).strip(" :")))

    def _next_paragraph(self) -> str:
        self.paragraphs += 1
        return f"stycke {self.paragraphs}"

    def inline_segment(self, inlines: list, place: str | None, cell) -> None:
        where = place or self._next_paragraph()
        notes: list[dict] = []
        tokens = self.flatten(inlines, where, notes)
        self.add(tokens, where, cell)
        for note in notes:
            self.notes += 1
            self.blocks(note["c"], f"fotnot {self.notes}")

    def add(self, tokens: list[_Token], place: str | None, cell) -> None:
        self.segments.append(_Segment(tokens, place or self._next_paragraph(), cell))

    def flatten(self, inlines: list, place: str, notes: list | None = None) -> list[_Token]:
        tokens = []
        for node in inlines:
            t, c = node.get("t"), node.get("c")
            if t == "Str":
                tokens.append(_Token(node, inlines, c, True))
            elif t in BREAKS:
                tokens.append(_Token(node, inlines, BREAKS[t], False))
            elif t in ("Code", "Math", "RawInline"):
                tokens.append(_Token(node, inlines, c[1], True))
            elif t in WRAPPERS:
                tokens += self.flatten(c, place, notes)
            elif t in SECOND:
                if t == "Link":
                    self.links.append((node, inlines, place))
                tokens += self.flatten(c[1], place, notes)
            elif t == "Note":
                tokens.append(_Token(node, inlines, "", False))
                if notes is not None:
                    notes.append(node)
                else:
                    self.notes += 1
                    self.blocks(c, f"fotnot {self.notes}")
        return tokens


def _set_text(token: _Token, text: str) -> None:
    node = token.node
    if node["t"] == "Str":
        node["c"] = text
    else:
        node["c"][1] = text


def _context(text: str, m: Match, width: int = 60) -> str:
    a, b = max(0, m.start - width), min(len(text), m.end + width)
    return ("…" if a else "") + text[a:b].strip() + ("…" if b < len(text) else "")


def _link_target(node: dict) -> str:
    from urllib.parse import unquote

    target = node["c"][2][0]
    return unquote(re.sub(r"^(mailto|tel|sms):", "", target, flags=re.I))


def scan_ast(ast: dict, rules: PersonalRules, title: str = "", mask: bool = False) -> tuple[list[Finding], str]:
    """Personal data in a report's AST (pandoc JSON, changed in place when ``mask``) and its
    title. Returns the findings in document order and the title as the draft shows it."""
    walker = _Walker()
    walker.blocks(ast.get("blocks", []))
    finder = Detector(rules)
    # Pass 1: names next to marker words and in the name columns of tables.
    names = {m.value for m in finder.names(title)}
    name_columns = {(table, col) for table, cols in walker.header_columns.items()
                    for col, header in cols if header in rules.column_headers}
    for seg in walker.segments:
        text = seg.text
        names.update(m.value for m in finder.names(text))
        if seg.cell and (seg.cell[0], seg.cell[2]) in name_columns:
            whole = finder.whole_name(text)
            if whole:
                names.add(whole)
    # Pass 2: everything, with every mention of the names known from the whole report.
    detector = Detector(rules, names)
    findings: list[Finding] = []
    title_matches = detector.find(title)
    findings += [Finding(m.kind, m.value, "titeln", title) for m in title_matches]
    for seg in walker.segments:
        text = seg.text
        matches = detector.find(text)
        findings += [Finding(m.kind, m.value, seg.place, _context(text, m)) for m in matches]
        if mask and matches:
            _mask_segment(seg, matches, rules)
    for node, parent, place in walker.links:
        target = _link_target(node)
        found = detector.find(target)
        if found:
            seen = {f.value for f in findings}
            findings += [Finding(m.kind, m.value, f"länk i {place}", target) for m in found if m.value not in seen]
            if mask:  # the link goes; its (masked) text stays
                i = next(i for i, n in enumerate(parent) if n is node)
                parent[i:i + 1] = node["c"][1]
    masked_title = mask_text(title, title_matches, rules) if title_matches else title
    return findings, masked_title


def _mask_segment(seg: _Segment, matches: list[Match], rules: PersonalRules) -> None:
    spans, pos = [], 0
    for tok in seg.tokens:
        spans.append((pos, pos + len(tok.text)))
        pos += len(tok.text)
    hosts = {}
    for m in matches:
        host = next((i for i, (a, b) in enumerate(spans)
                     if seg.tokens[i].editable and b > m.start and a < m.end), None)
        hosts[host] = hosts.get(host, []) + [m]
    remove = []
    for i, (tok, (a, b)) in enumerate(zip(seg.tokens, spans)):
        inside = [m for m in matches if m.start < b and m.end > a]
        if not inside:
            continue
        if not tok.editable:
            if tok.node.get("t") in BREAKS and all(m.start <= a and b <= m.end for m in inside):
                remove.append(tok)
            continue
        pieces, p = [], a
        for m in inside:
            if m.start > p:
                pieces.append(tok.text[p - a:m.start - a])
            if m in hosts.get(i, []):
                pieces.append(rules.mask(m.kind))
            p = max(p, min(m.end, b))
        if p < b:
            pieces.append(tok.text[p - a:])
        new = "".join(pieces)
        if new:
            _set_text(tok, new)
        else:
            remove.append(tok)
    for tok in remove:
        for i, n in enumerate(tok.parent):
            if n is tok.node:
                del tok.parent[i]
                break


def mask_ast(ast_json: bytes | str, rules: PersonalRules, title: str = "") -> tuple[bytes, list[Finding], str]:
    """The AST with every finding masked (JSON bytes), the findings, and the masked title."""
    ast = json.loads(ast_json)
    findings, masked_title = scan_ast(ast, rules, title, mask=True)
    return json.dumps(ast, ensure_ascii=False).encode("utf-8"), findings, masked_title


def mask_record(paragraphs: list[dict], rules: PersonalRules) -> list[dict]:
    """A published draft's text record (``paragraphs.json``: dicts with ``text``) masked by
    the current rules, so the changes since a draft published under other rules never show
    what the current rules mask (as a deletion)."""
    finder = Detector(rules)
    names = {m.value for p in paragraphs for m in finder.names(p.get("text") or "")}
    detector = Detector(rules, names)
    masked = []
    for p in paragraphs:
        found = detector.find(p.get("text") or "")
        masked.append({**p, "text": mask_text(p["text"], found, rules)} if found else p)
    return masked


# --- what the coordinator may see ---------------------------------------------------------------------


def summarise(findings: list[Finding], rules: PersonalRules) -> dict:
    """Kinds, counts and places: nothing of the values (for tracker, manifest, artifacts, state).

    ``by_kind`` counts per kind; ``phrase`` says it in Swedish (``7 namn, 2 adresser``, most
    first); ``places`` lists where (``fotnot 1: namn, personnummer``), in document order."""
    by_kind: dict[str, int] = {}
    places: dict[str, list[str]] = {}
    for f in findings:
        by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
        labels = places.setdefault(f.place, [])
        if rules.label(f.kind) not in labels:
            labels.append(rules.label(f.kind))
    ordered = sorted(by_kind.items(), key=lambda kv: (-kv[1], rules.label(kv[0])))
    return {"total": len(findings),
            "by_kind": {rules.label(kind): n for kind, n in ordered},
            "phrase": ", ".join(f"{n} {rules.label(kind) if n == 1 else rules.plurals.get(kind, kind)}"
                                for kind, n in ordered),
            "places": [f"{place}: {', '.join(labels)}" for place, labels in places.items()]}


def counts_phrase(summary: dict) -> str:
    """``7 namn, 2 adresser`` (Swedish)."""
    return summary.get("phrase", "")


@dataclass
class PersonalScan:
    """The personal data of the reports in a run: summaries per slot and masked titles."""

    summaries: dict[str, dict] = field(default_factory=dict)  # slot -> summarise(); only those with findings
    titles: dict[str, str] = field(default_factory=dict)  # slot -> the title as the draft shows it


def masked_ast_key(report, rules: PersonalRules) -> str:
    """Where :func:`scan_reports` keeps a report's AST with its personal data masked, keyed
    by content, converter, rules and the title as the draft shows it (names found in the
    title are masked in the text too), so merging need not scan it again."""
    digest = hashlib.sha256(json.dumps([report.sha256, report.converter, rules.fingerprint, report.title])
                            .encode()).hexdigest()
    return f"cache/masked/{digest[:32]}.json"


# From this many reports to scan, the scan runs in worker processes (one per core): it is
# pure Python, about 8 ms a report; below it, starting the workers costs more than it saves.
PARALLEL_SCAN_FROM = 64


def scan_reports(out, reports: dict, rules: PersonalRules, state: dict) -> PersonalScan:
    """Scan each report's AST (``cache/ast``) once per (content, rules) and keep the masked
    AST (:func:`masked_ast_key`); results are kept in ``state["personal"]`` (summaries
    only, never values)."""
    saved = state.setdefault("personal", {})
    scan = PersonalScan()
    keys = {slot: hashlib.sha256(json.dumps([report.sha256, report.converter, report.title,
                                             rules.fingerprint]).encode()).hexdigest()[:24]
            for slot, report in reports.items()}
    todo = [slot for slot in sorted(reports) if saved.get(slot, {}).get("key") != keys[slot]]

    def store(slot: str, summary: dict, title: str, masked: bytes) -> None:
        out.write(masked_ast_key(replace(reports[slot], title=title), rules), masked, "application/json")
        saved[slot] = {"key": keys[slot], "summary": summary, "title": title}

    if len(todo) >= PARALLEL_SCAN_FROM and workers() > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the caller may be a Prefect flow with threads running.
        with ProcessPoolExecutor(workers(), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_scan_worker_init, initargs=(rules,)) as pool:
            for i in range(0, len(todo), 128):  # a window at a time: ASTs are not all held at once
                window = todo[i:i + 128]
                jobs = [(out.read(reports[s].ast_key), reports[s].title) for s in window]
                for slot, done in zip(window, pool.map(_scan_worker, jobs, chunksize=8)):
                    store(slot, *done)
    else:
        for slot in todo:
            store(slot, *_scan_one(out.read(reports[slot].ast_key), reports[slot].title, rules))
    for slot in sorted(reports):
        if saved[slot]["summary"]["total"]:
            scan.summaries[slot] = saved[slot]["summary"]
        scan.titles[slot] = saved[slot]["title"]
    for slot in [s for s in saved if s not in reports]:
        del saved[slot]
    return scan


def _scan_one(ast_bytes: bytes, title: str, rules: PersonalRules) -> tuple[dict, str, bytes]:
    """One report: its findings' summary, its title as the draft shows it, its masked AST."""
    masked, findings, title = mask_ast(ast_bytes, rules, title)
    return summarise(findings, rules), title, masked


_worker_rules: PersonalRules | None = None


def _scan_worker_init(rules: PersonalRules) -> None:
    global _worker_rules
    _worker_rules = rules


def _scan_worker(job: tuple[bytes, str]) -> tuple[dict, str, bytes]:
    return _scan_one(*job, _worker_rules)


def with_masked_titles(reports: dict, scan: PersonalScan) -> dict:
    """The reports as the rest of the run sees them: titles masked (the saved state and
    ``normalised/`` keep what the partner wrote)."""
    return {slot: replace(r, title=scan.titles.get(slot, r.title)) for slot, r in reports.items()}
