"""One voice across the draft: a term written in more than one way, across the reports.

:func:`find_variants` takes the reports' paragraphs and returns groups of forms of one term:

- the project's terms (``templates/termer.toml``: the preferred form and its variants,
  ``secondhandbutik`` for ``second hand-butik``, ``ASF`` for ``arbetsintegrerande sociala
  företag``), with the usual Swedish endings;
- any other word written both together, apart or with a hyphen (``secondhandbutiken``,
  ``second hand butiken``, ``second hand-butiken``), or with and without a capital in the
  middle of a sentence (``Arbetsförmedlingen``, ``arbetsförmedlingen``): the forms whose
  letters are the same.

Each group has its forms as written, who wrote each and where (paragraph), and the preferred
form: the term list's, else the most common (then the one more partners use). No text around
the words is kept, so a group never carries personal data from a report.

:class:`TermList` also finds the variants in one paragraph, as findings of the partner's own
review (category ``TERMER``).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tasks.core.config import Array, Table, Text, read_config
from tasks.review.checker import Finding
from tasks.review.spelling import at_sentence_start

ENDINGS = r"(?:en|er|erna|ernas|ens|ers|ar|arna|arnas|ars|et|ets|na|nas|n|ns|s|a|t|e)?"
WORD = re.compile(r"[^\W\d_](?:[\w-]*[^\W_])?")
CATEGORY_ID = "TERMER"
CATEGORY_NAME = "Enhetliga termer"


class _Term(Table):
    """``[[termer]]``: the preferred form of a term and the variants that get a finding."""

    foredragen: Text
    varianter: Array[Text]


class _TermFile(Table):
    """``templates/termer.toml``."""

    termer: Array[_Term] = ()


@dataclass(frozen=True)
class Term:
    preferred: str
    variants: tuple[str, ...]

    def pattern(self) -> re.Pattern:
        forms = sorted({self.preferred, *self.variants}, key=len, reverse=True)
        return re.compile(r"(?<![\w-])(?P<form>" + "|".join(_form(f, self.preferred) for f in forms)
                          + r")(?P<end>" + ENDINGS + r")(?![\w-])")


def _form(form: str, preferred: str) -> str:
    """A form as a regular expression: any run of spaces where it has one; the first letter in
    either case unless the form differs from the preferred one only in case."""
    body = r"\s+".join(re.escape(p) for p in form.split())
    if form.lower() == preferred.lower() and form != preferred or not form[:1].isalpha():
        return body
    first = re.escape(form[0])
    return f"[{first}{re.escape(form[0].swapcase())}]" + body[len(first):]


class TermList:
    """``templates/termer.toml``: the project's preferred forms and the variants partners write."""

    def __init__(self, terms: list[Term]):
        self.terms = terms
        self.patterns = [(t, t.pattern()) for t in terms]
        self.fingerprint = hashlib.sha256(repr([(t.preferred, t.variants) for t in terms]).encode()).hexdigest()[:16]
        # A quick first look (one expression) before the per-term ones: most paragraphs have no term.
        words = sorted({w.lower() for t in terms for f in (t.preferred, *t.variants) for w in f.split()[:1]}, key=len,
                       reverse=True)
        self.quick = re.compile("|".join(re.escape(w) for w in words), re.I) if words else None

    @property
    def words(self) -> frozenset[str]:
        """Every word of every form (for the speller: these are not misspellings)."""
        return frozenset(w for t in self.terms for f in (t.preferred, *t.variants) for w in re.split(r"[\s-]+", f) if w)

    def matches(self, text: str):
        """(term, start, end, form as written, ending) for each form of a term in ``text``."""
        taken = []
        if self.quick is None or not self.quick.search(text):
            return
        for term, pattern in self.patterns:
            for m in pattern.finditer(text):
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                taken.append((m.start(), m.end()))
                yield term, m.start(), m.end(), m.group("form"), m.group("end")

    def check(self, text: str) -> list[Finding]:
        """A finding for each variant (not the preferred form) in one paragraph."""
        found = []
        for term, start, end, form, ending in self.matches(text):
            if _same_form(form, term.preferred, text, start):
                continue
            found.append(Finding(
                offset=start, length=end - start, rule_id="TERM_VARIANT", category_id=CATEGORY_ID,
                category_name=CATEGORY_NAME, issue_type="style",
                message=f"Ansökan skriver termen ”{term.preferred}” så. Skriv samma form i alla delrapporter.",
                suggestions=[_with_ending(term.preferred, ending, form)]))
        return found


def _same_form(form: str, preferred: str, text: str, start: int) -> bool:
    norm = " ".join(form.split())
    if norm == preferred:
        return True
    # "Second hand-butik" at the start of a sentence is the preferred form with a capital.
    return norm[:1].upper() + norm[1:] == preferred[:1].upper() + preferred[1:] and at_sentence_start(text, start)


def _with_ending(preferred: str, ending: str, written: str) -> str:
    if preferred.isupper() and ending and not ending.startswith(":"):
        ending = ":" + ending
    return preferred + ending


def load_terms(templates: Path | str) -> TermList:
    """Read and validate ``templates/termer.toml`` (no terms when it is absent)."""
    path = Path(templates) / "termer.toml"
    if not path.is_file():
        return TermList([])
    model = read_config(path, _TermFile)
    return TermList([Term(t.foredragen, tuple(t.varianter)) for t in model.termer])


# --- groups across the reports ------------------------------------------------------------------

@dataclass
class Occurrence:
    form: str
    partner: str
    piece: str
    block: int
    offset: int


def report_occurrences(blocks: list[str], terms: TermList | None = None) -> dict:
    """What one report contributes to :func:`find_variants`, found without the other reports
    (so it can be kept per report), each as ``{key: {form as written: [paragraph, ...]}}``
    (a paragraph once per occurrence): ``listed``, the forms of listed terms by preferred form;
    ``w``, the words of four letters or more; ``p``, the runs of two or three words written
    apart or with hyphens whose letters make six or more. It depends on the term list too
    (:attr:`TermList.fingerprint`)."""
    terms = terms or TermList([])
    found: dict[str, dict[str, dict[str, list[int]]]] = {"listed": {}, "w": {}, "p": {}}

    def add(kind: str, key: str, form: str, index: int) -> None:
        found[kind].setdefault(key, {}).setdefault(form, []).append(index)

    for index, text in enumerate(blocks):
        covered = []
        for term, start, end, form, _ in terms.matches(text):
            shown = " ".join(form.split())
            if _same_form(form, term.preferred, text, start):
                shown = term.preferred
            add("listed", term.preferred, shown, index)
            covered.append((start, end))
        tokens = [(m.start(), m.end(), m.group()) for m in WORD.finditer(text)
                  if not any(a <= m.start() < b for a, b in covered)]
        for i, (start, end, token) in enumerate(tokens):
            if len(token) >= 4:
                add("w", _key(token), _case_form(token, text, start), index)
            for n in (2, 3):  # the same letters written apart: "second hand butiken"
                if i + n > len(tokens):
                    break
                span = tokens[i:i + n]
                gaps = [text[span[k][1]:span[k + 1][0]] for k in range(n - 1)]
                if not all(g in (" ", "-") for g in gaps):
                    break
                phrase = text[span[0][0]:span[-1][1]]
                key = _key(phrase)
                if len(key) >= 6:
                    add("p", key, _case_form(phrase, text, start), index)
    return found


def find_variants(reports: list[dict], terms: TermList | None = None) -> list[dict]:
    """Groups of forms of one term across ``reports``.

    ``reports``: each ``{"partner", "partner_name", "piece"}`` with ``"blocks": [paragraph
    text, ...]`` or, already found, ``"occurrences"`` (:func:`report_occurrences`).
    Returns groups, most used first: ``{"term", "preferred", "source" ("termlista" or
    "vanligast"), "forms": [{"form", "count", "preferred", "places": [{"partner",
    "partner_name", "piece", "paragraphs": [...]}]}]}``; only groups with two forms or more.
    A run of words written apart counts only where the same letters are also one word somewhere.
    """
    names = {r["partner"]: r.get("partner_name", r["partner"]) for r in reports}
    found_in = [r.get("occurrences") or report_occurrences(r["blocks"], terms) for r in reports]
    singles = {key for found in found_in for key in found["w"]}
    listed: dict[str, list[tuple]] = defaultdict(list)
    by_key: dict[str, list[tuple]] = defaultdict(list)
    for report, found in zip(reports, found_in):
        where = (report["partner"], report["piece"])
        for preferred, forms in found["listed"].items():
            listed[preferred] += [(form, where, blocks) for form, blocks in forms.items()]
        for kind in ("w", "p"):
            for key, forms in found[kind].items():
                if kind == "w" or key in singles:
                    by_key[key] += [(form, where, blocks) for form, blocks in forms.items()]

    def occurrences(entries: list[tuple]) -> list[Occurrence]:
        return [Occurrence(form, partner, piece, block, 0)
                for form, (partner, piece), blocks in entries for block in blocks]

    groups = []
    for preferred, entries in listed.items():
        if len({form for form, _, _ in entries}) > 1:
            groups.append(_group(preferred, "termlista", occurrences(entries), names))
    for key, entries in by_key.items():
        if len({form for form, _, _ in entries}) < 2:
            continue
        found = occurrences(entries)
        forms = Counter(o.form for o in found)
        partners_per_form = {f: len({o.partner for o in found if o.form == f}) for f in forms}
        preferred = max(forms, key=lambda f: (forms[f], partners_per_form[f], -len(f.split()), f))
        groups.append(_group(preferred, "vanligast", found, names))
    groups.sort(key=lambda g: (-sum(f["count"] for f in g["forms"]), g["preferred"]))
    return groups


JOINTS = re.compile(r"[\s-]+")


@lru_cache(maxsize=1 << 16)
def _key(text: str) -> str:
    return JOINTS.sub("", text).lower()


def _case_form(form: str, text: str, start: int) -> str:
    """The form as written; at the start of a sentence, with the capital the sentence gave it
    taken away (it says nothing about how the word is written)."""
    form = " ".join(form.split())
    # Where the sentence starts is asked last: it looks back through the paragraph.
    if form[:1].isupper() and not form.isupper() and not form[1:2].isupper() and at_sentence_start(text, start):
        return "\0" + form  # case unknown: resolved in _group
    return form


def _group(preferred: str, source: str, found: list[Occurrence], names: dict[str, str]) -> dict:
    known = {o.form for o in found if not o.form.startswith("\0")}
    for o in found:
        if o.form.startswith("\0"):
            bare = o.form[1:]
            lower = bare[:1].lower() + bare[1:]
            o.form = bare if bare in known else lower
    if preferred.startswith("\0"):
        preferred = preferred[1:]
    forms = Counter(o.form for o in found)
    result = []
    for form, count in forms.most_common():
        places: dict[tuple[str, str], list[int]] = defaultdict(list)
        for o in found:
            if o.form == form:
                places[(o.partner, o.piece)].append(o.block + 1)
        result.append({"form": form, "count": count, "preferred": form == preferred,
                       "places": [{"partner": p, "partner_name": names.get(p, p), "piece": piece,
                                   "paragraphs": sorted(set(paras))}
                                  for (p, piece), paras in sorted(places.items(), key=lambda kv: (kv[0][1], kv[0][0]))]})
    return {"term": preferred, "preferred": preferred, "source": source, "forms": result}
