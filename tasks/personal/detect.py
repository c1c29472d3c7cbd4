"""Finding personal data in a run of text: identity numbers, phone numbers, e-mail and street
addresses, participants' names, the coordinator's extra patterns.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date

from tasks.personal.rules import KINDS, PHONE_TYPES, PersonalRules, fold

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
# A word in capitals ("SVENSSON", "AL-HASSAN"): part of a name only after a marker word, as two
# or three of them where the capitals stop ("DELTAGAREN ANNA SVENSSON började"), each with a
# vowel; one word in capitals is taken for an acronym ("deltagarna i ESF", "deltagaren AF").
CAPS_TOKEN = rf"[{UPPER}]{{2,}}(?:-[{UPPER}]{{2,}})*"
CAPS_NAME = rf"{CAPS_TOKEN}(?:[ \t]+{CAPS_TOKEN}){{1,2}}(?![\w-])(?![ \t]+[{UPPER}]{{2,}}(?![{LOWER}]))"
VOWEL = re.compile("[AEIOUYÅÄÖÉÜÆØ]")


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


# Cheap tests that tell when a kind cannot be in a text (most paragraphs hold none): an
# identity number has six digits in a row, an address and a phone number a digit, an
# e-mail address an @, and a name is found only next to a marker or role word.
DIGIT = re.compile(r"\d")
SIX_DIGITS = re.compile(r"\d{6}")


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
            rf"(?:(?P<name>{name})|(?P<caps>{CAPS_NAME}))(?![\w])")
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
        # Every name pattern above needs one of these words; without one there is no name to look for.
        self.name_words = re.compile(rf"(?i:{_words_pattern(rules.markers + rules.roles)})")
        self.name_hints = tuple({max(w.split(), key=len) for w in rules.markers + rules.roles if w.split()})
        self.known = self._known_pattern(names or set())

    @classmethod
    def for_rules(cls, rules: PersonalRules, names: set[str] | None = None) -> Detector:
        """A detector for ``rules`` (and ``names``), made once per set of rules when there are
        no names (its patterns take longer to build than to use on a report)."""
        found = _DETECTORS.get(rules.fingerprint)  # the fingerprint covers all the rules say
        if found is None:
            found = _DETECTORS[rules.fingerprint] = cls(rules)
        if names:  # the same patterns, and one more for the names
            found = copy.copy(found)
            found.known = found._known_pattern(names)
        return found

    def _known_pattern(self, names: set[str]) -> re.Pattern | None:
        forms = set()
        for name in names:
            # A name found in capitals is also found as written normally, and the other way round.
            variants = {name, name.upper(), name.title() if name.isupper() else name}
            for variant in variants:
                forms.add(variant)
                for word in variant.split():
                    if len(word) > 1 and not word.endswith(".") and fold(word) not in self.rules.particles | self.rules.not_names:
                        forms.add(word)
        if not forms:
            return None
        alternatives = _words_pattern(sorted(forms, key=len, reverse=True))
        return re.compile(rf"(?<![\w])(?:{alternatives})(?:s|S)?(?![\w])")

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

    def trim_caps(self, value: str, start: int) -> tuple[int, str] | None:
        """A name in capitals after a marker: words that are never names at the end go
        ("DELTAGARNA KOMMER FRÅN"), and what is left must be two or three words with a vowel
        each, the first not a word that is never a name ("DELTAGARNA FICK STÖD")."""
        words = [(m.start(), m.group(0)) for m in re.finditer(r"\S+", value)]
        while words and fold(words[-1][1]) in self.rules.not_names | self.rules.particles:
            words.pop()
        if len(words) < 2 or fold(words[0][1]) in self.rules.not_names:
            return None
        if not all(VOWEL.search(w) for _, w in words):
            return None
        a, b = words[0][0], words[-1][0] + len(words[-1][1])
        return start + a, value[a:b]

    def may_name(self, text: str) -> bool:
        """False only when no marker or role word is in ``text`` (so :meth:`names` finds nothing).
        A word of each folded (rules are folded) is looked for in the folded text: where folding
        keeps every character one character and there is no dotless ı (which the patterns'
        ignoring of case treats as i), that is all the patterns could match, and quicker."""
        folded = text.casefold()
        if any(hint in folded for hint in self.name_hints):
            return True
        if len(folded) == len(text) and "ı" not in text:
            return False
        return self.name_words.search(text) is not None

    def names(self, text: str) -> list[Match]:
        if not self.may_name(text):
            return []
        found = []
        for regex, leading in ((self.after, False), (self.before, True)):
            for m in regex.finditer(text):
                if m.groupdict().get("caps"):
                    trimmed = self.trim_caps(m.group("caps"), m.start("caps"))
                else:
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

    def find(self, text: str, names: list[Match] | None = None) -> list[Match]:
        """Non-overlapping matches in text order (an earlier kind in KINDS wins, then the longer);
        ``names``: what :meth:`names` found in ``text`` already (it depends only on the rules)."""
        if not text.strip():
            return []
        digits = DIGIT.search(text) is not None
        candidates = ((self.identity_numbers(text) if digits and SIX_DIGITS.search(text) else [])
                      + (self.emails(text) if "@" in text else [])
                      + (self.addresses(text) + self.phones(text) if digits else [])
                      + self.patterns(text) + (self.names(text) if names is None else names))
        if self.known:
            candidates += [Match("namn", m.start(), m.end(), m.group(0)) for m in self.known.finditer(text)]
        return _non_overlapping([c for c in candidates if c.value not in self.rules.keep])


def _phone_type(value: int) -> str:
    from phonenumbers import PhoneNumberType

    return next((k for k, v in vars(PhoneNumberType).items() if v == value and k in PHONE_TYPES), "UNKNOWN")


_DETECTORS: dict[str, Detector] = {}


def detect(text: str, rules: PersonalRules, names: set[str] | None = None) -> list[Match]:
    """Personal data in ``text`` (see :class:`Detector`)."""
    return Detector.for_rules(rules, names).find(text)


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


