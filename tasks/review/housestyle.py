"""House style: abbreviations, numbers, dates, dashes, quotation marks, organisation names
and officialese, from ``templates/husstil.toml`` (Myndigheternas skrivregler, Svenska
skrivregler). Each table of that file is a finding category of its own, which a
coordinator can switch off (``rules.disabled_categories`` in ``templates/review.toml``).

The checks are regular expressions over a paragraph's text; they return the same
:class:`~tasks.review.checker.Finding` objects as the language checker, so the review
filters, places and reports them the same way (masked spans such as web addresses and
personal data are never looked at).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tasks.core.config import Array, Table, Text, read_config
from tasks.review.checker import Finding

MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
          "oktober", "november", "december")


Severity = Literal["fel", "varning", "tips"]


class _Category(Table):
    """What every category has: its id (for ``rules.disabled_categories``), its Swedish name,
    the severity of its findings."""

    id: Text
    namn: Text
    severity: Severity = "varning"


class Replacement(Table):
    """A form the house style wants (``ratt``) and the forms written instead (``fel``)."""

    ratt: str
    fel: Array[str]


class Abbreviations(_Category):
    poster: Array[Replacement] = ()


class Numbers(_Category):
    gruppera_fran_siffror: int = 5
    procent_med_mellanslag: bool = True
    intervall_med_tankstreck: bool = True


class Dates(_Category):
    snedstreck_och_punkter: bool = True
    ordningstal_fore_manad: bool = True


class Dashes(_Category):
    bindestreck_som_tankstreck: bool = True


class Quotes(_Category):
    fel: Array[str] = ()
    ratt: str = "”"


class Names(_Category):
    poster: Array[Replacement] = ()


class Plain(Table):
    ord: str
    former: Array[str]
    alternativ: Array[str]


class PlainWords(_Category):
    poster: Array[Plain] = ()


class HouseStyleFile(Table):
    forkortningar: Abbreviations | None = None
    siffror: Numbers | None = None
    datum: Dates | None = None
    tankstreck: Dashes | None = None
    citattecken: Quotes | None = None
    namn: Names | None = None
    krangliga_ord: PlainWords | None = None


@dataclass
class HouseStyle:
    """The compiled checks of ``husstil.toml``; :meth:`check` finds them in one paragraph."""

    rules: list[tuple[re.Pattern, object, _Category]] = field(default_factory=list)
    severities: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)

    def check(self, text: str, disabled: tuple[str, ...] = ()) -> list[Finding]:
        found = []
        for pattern, make, category in self.rules:
            if category.id in disabled:
                continue
            for m in pattern.finditer(text):
                result = make(m)
                if result is None:
                    continue
                message, suggestions, start, end = result
                found.append(Finding(offset=start, length=end - start, message=message, rule_id=category.id,
                                     category_id=category.id, category_name=category.namn, issue_type="style",
                                     suggestions=suggestions))
        found.sort(key=lambda f: (f.offset, f.length))
        return found


def load_house_style(templates: Path | str) -> HouseStyle:
    """Read and validate ``templates/husstil.toml`` (an empty style when it is absent)."""
    path = Path(templates) / "husstil.toml"
    if not path.is_file():
        return HouseStyle()
    model = read_config(path, HouseStyleFile)
    style = HouseStyle()
    for name in HouseStyleFile.model_fields:
        category = getattr(model, name)
        if category is None:
            continue
        style.severities[category.id] = category.severity
        style.categories[category.id] = category.namn
        style.rules += list(_compile(category))
    return style


# --- the checks ------------------------------------------------------------------------------------

def _literal(form: str) -> str:
    """A regular expression for ``form`` with any run of spaces where it has one."""
    return r"\s+".join(re.escape(part) for part in form.split())


def _cased(suggestion: str, written: str) -> str:
    return suggestion[:1].upper() + suggestion[1:] if written[:1].isupper() else suggestion


def _compile(category):
    """(pattern, make, category) for each check of one category of the house style."""
    if isinstance(category, Abbreviations):
        yield from _abbreviations(category)
    elif isinstance(category, Numbers):
        yield from _numbers(category)
    elif isinstance(category, Dates):
        yield from _dates(category)
    elif isinstance(category, Dashes):
        yield from _dashes(category)
    elif isinstance(category, Quotes):
        yield from _quotes(category)
    elif isinstance(category, Names):
        yield from _names(category)
    elif isinstance(category, PlainWords):
        yield from _plain_words(category)


def _abbreviations(category: Abbreviations):
    """Abbreviations written otherwise (``t ex`` -> ``t.ex.``)."""
    # One expression for all of them (speed: it runs on every paragraph).
    right_of = {}
    alternatives = []
    for entry in category.poster:
        for wrong in entry.fel:
            right_of[_norm(wrong)] = entry.ratt
            tail = "" if wrong.endswith(".") else r"(?!\.)"
            alternatives.append((len(wrong), _literal(wrong) + tail))
    if alternatives:
        pattern = re.compile(r"(?<![\w.])(?:" + "|".join(a for _, a in sorted(alternatives, reverse=True))
                             + r")(?![\w])", re.I)

        def make(m):
            right = right_of.get(_norm(m.group()))
            if right is None or m.group() == right:
                return None
            return (f"Förkortningen skrivs {right} (Myndigheternas skrivregler).", [_cased(right, m.group())],
                    m.start(), m.end())
        yield pattern, make, category


def _numbers(category: Numbers):
    """Large numbers in groups of three, a space before %, ranges with a dash."""
    n = max(4, category.gruppera_fran_siffror)
    pattern = re.compile(r"(?<![\w/+\-−–])(?<!\d[.,:])\d{%d,}(?![\w/\-−–]|[.,:]\d)" % n)

    def group(m):
        if re.search(r"[A-ZÅÄÖ]{2,}[ /]?$", m.string[max(0, m.start() - 12):m.start()].rstrip()):
            return None  # a standard's or a document's number: ISO/IEC 18974, SFS 2010800
        digits = m.group()
        grouped = " ".join([digits[:len(digits) % 3]] * bool(len(digits) % 3)
                           + [digits[i:i + 3] for i in range(len(digits) % 3, len(digits), 3)])
        return ("Stora tal skrivs med mellanrum mellan varje grupp om tre siffror.", [grouped], m.start(), m.end())
    yield pattern, group, category
    if category.procent_med_mellanslag:
        yield (re.compile(r"(?<![\w.,])(\d+(?:,\d+)?)%"),
               lambda m: ("Skriv mellanslag mellan talet och procenttecknet.", [m.group(1) + " %"],
                          m.start(), m.end()), category)
    if category.intervall_med_tankstreck:
        def ranged(m):
            a, b = m.group(1), m.group(2)
            if a.startswith("0") or b.startswith("0") or int(a) >= int(b):
                return None  # a phone number or code, not a range
            return ("Mellan tal i ett intervall står tankstreck (–), inte bindestreck.", [f"{a}–{b}"],
                    m.start(), m.end())
        yield re.compile(r"(?<![\w/\-–])(?<!\d[.,:])(\d{1,4})-(\d{1,4})(?![\w/\-–]|[.,:]\d)"), ranged, category


def _dates(category: Dates):
    """Dates with slashes or dots, and ordinals before a month."""
    if category.snedstreck_och_punkter:
        def slashed(m):
            day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
            if not (1 <= day <= 31 and 1 <= month <= 12):
                return None
            text = f"{day} {MONTHS[month - 1]}" + (f" {year}" if year else "")
            iso = [f"{year}-{month:02d}-{day:02d}"] if year else []
            return ("Skriv datum med månadens namn eller som år-månad-dag.", [text, *iso], m.start(), m.end())
        yield re.compile(r"(?<![\w/.])(\d{1,2})[/.](\d{1,2})[ .](\d{4})(?![\w/.])"), slashed, category
        yield (re.compile(r"(?<=\bden )(\d{1,2})/(\d{1,2})()(?![\w/]|\s\d{4})"), slashed, category)
    if category.ordningstal_fore_manad:
        yield (re.compile(r"(?<![\w])(\d{1,2}):(?:e|a)\s+(" + "|".join(MONTHS) + r")\b", re.I),
               lambda m: ("I datum skrivs dagen utan ändelse.", [f"{m.group(1)} {m.group(2)}"], m.start(), m.end()),
               category)


def _dashes(category: Dashes):
    """A hyphen used as a dash."""
    if category.bindestreck_som_tankstreck:
        yield (re.compile(r"(?<=\w) - (?=\w)"),
               lambda m: ("Som tankstreck används – (ett längre streck), inte bindestreck.", [" – "],
                          m.start(), m.end()), category)


def _quotes(category: Quotes):
    """Quotation marks of other languages."""
    if category.fel:
        yield (re.compile("|".join(re.escape(q) for q in category.fel)),
               lambda m, right=category.ratt: ("På svenska används citattecknet ” i båda ändarna.", [right],
                                               m.start(), m.end()), category)


def _names(category: Names):
    """Organisation names as the organisations write them."""
    right_of = {" ".join(w.split()): e.ratt for e in category.poster for w in e.fel}
    if right_of:
        pattern = re.compile(r"(?<![\w-])(?:" + "|".join(_literal(w) for w in sorted(right_of, key=len, reverse=True))
                             + r")(?![\w-])")
        yield (pattern, lambda m: (f"Organisationen skriver sitt namn {right_of[' '.join(m.group().split())]}.",
                                   [right_of[" ".join(m.group().split())]], m.start(), m.end()), category)


def _plain_words(category: PlainWords):
    """Officialese, with plain alternatives (klarspråk)."""
    entry_of = {}
    for entry in category.poster:
        for form in entry.former:
            entry_of[_norm(form)] = entry
    if entry_of:
        forms = "|".join(_literal(f) for f in sorted(entry_of, key=len, reverse=True))
        pattern = re.compile(r"(?<![\w-])(?:" + forms + r")(?![\w-])", re.I)

        def plain(m):
            entry = entry_of.get(_norm(m.group()))
            if entry is None:
                return None
            options = " eller ".join(f"”{a}”" for a in entry.alternativ)
            return (f"”{entry.ord}” är ett krångligt ord. Skriv hellre {options} (klarspråk).",
                    [_cased(a, m.group()) for a in entry.alternativ], m.start(), m.end())
        yield pattern, plain, category

def _norm(text: str) -> str:
    return " ".join(text.lower().split())
