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
from typing import Callable

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
        # A quick first look before the per-term expressions: a term can be in a paragraph only
        # if the first word of one of its forms is (in lower case), and most paragraphs have none.
        self.first_words = [{w.lower() for f in (t.preferred, *t.variants) for w in f.split()[:1]} for t in terms]

    @property
    def words(self) -> frozenset[str]:
        """Every word of every form (for the speller: these are not misspellings)."""
        return frozenset(w for t in self.terms for f in (t.preferred, *t.variants) for w in re.split(r"[\s-]+", f) if w)

    def matches(self, text: str):
        """(term, start, end, form as written, ending) for each form of a term in ``text``."""
        taken = []
        lowered = text.lower()
        for (term, pattern), first in zip(self.patterns, self.first_words):
            if not any(w in lowered for w in first):
                continue
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

# Runs of words with one space between them: within a run no word but the first can be at the
# start of a sentence, and every two or three neighbours are a run of words written apart.
RUN = re.compile(WORD.pattern + r"(?: " + WORD.pattern + r")*")


def report_occurrences(blocks: list[str], terms: TermList | None = None, phrases: bool = True) -> dict:
    """What one report contributes to :func:`find_variants`, found without the other reports
    (so it can be kept per report), each as ``{key: {form as written: [paragraph, ...]}}``
    (a paragraph once per occurrence): ``listed``, the forms of listed terms by preferred form;
    ``w``, the words of four letters or more; ``p``, the runs of two or three words written
    apart whose letters make six or more. A form is written ``"\0" + form`` where a capital
    only says that a sentence starts there (resolved across the reports in :func:`find_variants`).
    With ``phrases=False``, ``pk`` (the keys of ``p``) instead of ``p``: a run of words
    counts only where its letters are also one word somewhere, which is seldom, so its forms
    can be found again when needed. It depends on the term list too (:attr:`TermList.fingerprint`)."""
    terms = terms or TermList([])
    listed: dict[str, dict[str, list[int]]] = {}
    words: dict[str, list[int]] = {}
    found: dict[str, list[int]] = {}
    keys: set[str] = set()
    for index, text in enumerate(blocks):
        covered = _listed_terms(text, terms, listed, index)
        for start, tokens in _runs(text, covered):
            # Only the run's first word can start a sentence (it is asked last: it looks back).
            opens = tokens[0][:1].isupper() and at_sentence_start(text, start)
            for i, token in enumerate(tokens):
                if len(token) >= 4:
                    words.setdefault(_case_form(token, opens and i == 0), []).append(index)
            if len(tokens) < 2:
                continue
            if not phrases:
                joined = [t.replace("-", "").lower() for t in tokens]
                keys.update(a + b for a, b in zip(joined, joined[1:]))
                keys.update(a + b + c for a, b, c in zip(joined, joined[1:], joined[2:]))
                continue
            for i in range(len(tokens) - 1):
                pair = f"{tokens[i]} {tokens[i + 1]}"
                found.setdefault(_case_form(pair, opens and i == 0), []).append(index)
                if i + 2 < len(tokens):
                    found.setdefault(_case_form(f"{pair} {tokens[i + 2]}", opens and i == 0), []).append(index)
    if not phrases:
        return {"listed": listed, "w": _by_key(words, 0), "pk": {k for k in keys if len(k) >= 6}}
    return {"listed": listed, "w": _by_key(words, 0), "p": _by_key(found, 6)}


def _listed_terms(text: str, terms: TermList, listed: dict, index: int) -> list[tuple[int, int]]:
    """The listed terms' forms in one paragraph, added to ``listed``; where they are."""
    covered = []
    for term, start, end, form, _ in terms.matches(text):
        shown = term.preferred if _same_form(form, term.preferred, text, start) else " ".join(form.split())
        listed.setdefault(term.preferred, {}).setdefault(shown, []).append(index)
        covered.append((start, end))
    return covered


def _runs(text: str, covered: list[tuple[int, int]]):
    """(start, words) of each run of words with one space between them, outside the
    ``covered`` spans (a run ends where one starts)."""
    pos = 0
    for a, b in sorted(covered) + [(len(text), len(text))]:
        for m in RUN.finditer(text, pos, max(a, pos)):
            yield m.start(), m.group().split(" ")
        pos = max(pos, b)


def _by_key(found: dict[str, list[int]], shortest: int) -> dict[str, dict[str, list[int]]]:
    """``{form: paragraphs}`` as ``{key: {form: paragraphs}}``, keys of ``shortest`` letters or more."""
    keyed: dict[str, dict[str, list[int]]] = {}
    for form, paragraphs in found.items():
        key = form.lstrip("\0").replace(" ", "").replace("-", "").lower()  # _key of a form of words and single spaces
        if len(key) >= shortest:
            keyed.setdefault(key, {})[form] = paragraphs
    return keyed


@dataclass
class Contribution:
    """What one report brings to the groups, read only when needed (kept per report by
    :mod:`tasks.review.sprak`): ``words()`` and ``phrases()`` as :func:`report_occurrences`
    gives ``w`` and ``p``, ``phrase_keys()`` the keys of ``p`` (only those that are also one
    word somewhere are read whole)."""

    partner: str
    partner_name: str
    piece: str
    listed: dict
    words: Callable[[], dict]
    phrase_keys: Callable[[], set[str]]
    phrases: Callable[[], dict]


def contribution(partner: str, partner_name: str, piece: str, found: dict) -> Contribution:
    """A :class:`Contribution` from :func:`report_occurrences`' result."""
    return Contribution(partner, partner_name, piece, found["listed"], lambda: found["w"], lambda: set(found["p"]),
                        lambda: found["p"])


def find_variants(reports: list[dict], terms: TermList | None = None) -> list[dict]:
    """Groups of forms of one term across ``reports``.

    ``reports``: each ``{"partner", "partner_name", "piece"}`` with ``"blocks": [paragraph
    text, ...]`` or, already found, ``"occurrences"`` (:func:`report_occurrences`).
    Returns groups, most used first: ``{"term", "preferred", "source" ("termlista" or
    "vanligast"), "forms": [{"form", "count", "preferred", "places": [{"partner",
    "partner_name", "piece", "paragraphs": [...]}]}]}``; only groups of two forms or more, a
    capital at the start of a sentence not counted as a form of its own. A run of words
    written apart counts only where the same letters are also one word somewhere.
    """
    return group_variants([contribution(r["partner"], r.get("partner_name", r["partner"]), r["piece"],
                                        r.get("occurrences") or report_occurrences(r["blocks"], terms))
                           for r in reports])


def group_variants(reports: list[Contribution]) -> list[dict]:
    """:func:`find_variants` of the reports' contributions, holding little of them at once:
    the forms of each word first (``words()`` of each), then the runs of words that are one
    word somewhere (``phrases()`` of the reports that have one), then the places of the
    groups' forms (``words()`` again)."""
    names = {r.partner: r.partner_name for r in reports}
    listed: dict[str, list[tuple]] = defaultdict(list)
    forms_of: dict[str, set[str]] = defaultdict(set)
    for r in reports:
        for preferred, forms in r.listed.items():
            listed[preferred] += [(form, (r.partner, r.piece), blocks) for form, blocks in forms.items()]
        for key, forms in r.words().items():
            forms_of[key].update(forms)
    singles = set(forms_of)
    apart: dict[int, dict[str, dict]] = {}  # report -> its runs of words that are one word somewhere
    for i, r in enumerate(reports):
        hits = r.phrase_keys() & singles
        if hits:
            phrases = r.phrases()
            apart[i] = {key: phrases[key] for key in hits}
            for key in hits:
                forms_of[key].update(phrases[key])
    wanted = {key for key, forms in forms_of.items() if len(forms) > 1 and _resolved(forms)}
    by_key: dict[str, list[tuple]] = defaultdict(list)
    for i, r in enumerate(reports):
        where = (r.partner, r.piece)
        words = r.words()
        for part in (words, apart.get(i, {})):
            for key in wanted.intersection(part):
                by_key[key] += [(form, where, blocks) for form, blocks in part[key].items()]
    groups = [_group(preferred, "termlista", entries, names, preferred)
              for preferred, entries in listed.items() if len({form for form, _, _ in entries}) > 1]
    groups += [_group(None, "vanligast", entries, names) for entries in by_key.values()]
    groups.sort(key=lambda g: (-sum(f["count"] for f in g["forms"]), g["preferred"]))
    return groups


JOINTS = re.compile(r"[\s-]+")


@lru_cache(maxsize=1 << 16)
def _key(text: str) -> str:
    return JOINTS.sub("", text).lower()


def _case_form(form: str, opens_sentence: bool) -> str:
    """The form as written; at the start of a sentence, with the capital the sentence gave it
    marked as saying nothing about how the word is written (``"\0" + form``)."""
    if opens_sentence and not form.isupper() and not form[1:2].isupper():
        return "\0" + form  # case unknown: resolved in _resolved
    return form


def _resolved(forms: set[str]) -> dict[str, str]:
    """Each form as the group shows it: a form with a capital only from the start of a sentence
    is the form with that capital where it is also written so elsewhere, else in lower case."""
    known = {f for f in forms if not f.startswith("\0")}
    resolved = {}
    for form in forms:
        if form.startswith("\0"):
            bare = form[1:]
            resolved[form] = bare if bare in known else bare[:1].lower() + bare[1:]
        else:
            resolved[form] = form
    return resolved if len(set(resolved.values())) > 1 or not forms else {}


def _group(preferred: str | None, source: str, entries: list[tuple], names: dict[str, str],
           listed: str | None = None) -> dict:
    """A group from (form, (partner, piece), paragraphs) entries; ``preferred``: the term
    list's form, else (None) the most common (then the one more partners use)."""
    forms = {form for form, _, _ in entries}
    resolved = _resolved(forms) or {f: f for f in forms}
    counts: Counter = Counter()
    partners: dict[str, set[str]] = defaultdict(set)
    places: dict[str, dict[tuple[str, str], set[int]]] = defaultdict(lambda: defaultdict(set))
    for form, where, blocks in entries:
        shown = resolved[form]
        counts[shown] += len(blocks)
        partners[shown].add(where[0])
        places[shown][where].update(blocks)
    if preferred is None:
        preferred = max(counts, key=lambda f: (counts[f], len(partners[f]), -len(f.split()), f))
    result = [{"form": form, "count": count, "preferred": form == preferred,
               "places": [{"partner": p, "partner_name": names.get(p, p), "piece": piece,
                           "paragraphs": sorted(b + 1 for b in paras)}
                          for (p, piece), paras in sorted(places[form].items(), key=lambda kv: (kv[0][1], kv[0][0]))]}
              for form, count in counts.most_common()]
    return {"term": listed or preferred, "preferred": preferred, "source": source, "forms": result}
