"""Which of the speller's findings are misspellings a partner should see.

The engine's speller reports every word its word list lacks. In a real Swedish report most
of those are not misspellings (measured on ../shared/corpus: 566 of 613 findings, nearly
all correct words). A finding is dropped here when the flagged word is:

- a compound of dictionary words (:meth:`tasks.review.lexicon.Lexicon.split`), unless the
  speller's own suggestions hold a word one letter away that is not just another joint
  (``tillsamans`` -> ``tillsammans`` stays reported; ``objektstyper`` -> ``objekttyper`` is
  a joint, so the compound is accepted);
- a hyphenated compound whose last part is Swedish (``shape-fil``, ``OSPO-funktionen``);
- not a word at all: an acronym in capitals, a word with digits, a file name or
  extension, a web or e-mail address, a CamelCase name (:func:`tasks.review.lexicon.not_a_word`);
- a word the engine's tagger dictionary knows (:mod:`tasks.review.tagdict`: ``cola``);
- a name: capitalised but not at the start of a sentence, or a name the project knows
  (partners, the term list), or written so elsewhere in the same document;
- part of a foreign phrase: next to another word the speller does not know
  (``Pull Request``, ``free and open source software``), or a gloss in parentheses whose
  words are all unknown (``Gren (branch)``);
- the definite form of a long word the speller suggests (``sverigesvenskan``: its list has
  ``sverigesvenska`` only);
- written together with a symbol (``m$ndighet``): a garbled token, not a misspelling;
- a word alone in quotation marks (a cited word, ``”millennial”``), unless the speller
  suggests a word one letter away.

Everything here is about the flagged token and its neighbours in the same paragraph; no
list of particular words is involved apart from a handful of English function words
that hold foreign phrases together.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tasks.review.lexicon import Lexicon, load_lexicon, not_a_word
from tasks.review.tagdict import TagDictionary, tag_dictionary_for

TOKEN_CHARS = re.compile(r"[\w.@/:'’-]")
# Short English words inside foreign phrases ("Bill of Materials", "free and open source").
ENGLISH_GLUE = frozenset({"and", "of", "for", "the", "to", "a", "an", "in", "on", "with", "by", "at", "or"})
SENTENCE_END = ".!?:;…"
SYMBOLS = "$€£§#%&*+=^~|\\<>"  # written together with a word, they make a garbled token ("m$ndighet")
QUOTES_OPEN = "\"'”“«»‘’"
QUOTES_CLOSE = "\"'”»«’"
DEFINITE_ENDINGS = ("n", "t", "en", "et", "na")
MIN_INFLECTED = 8  # letters in a word whose definite form the speller may lack (a compound)
OPENERS = "\"'”“’‘«»([{–—-•*"


def hunspell_dir(language: str = "sv-SE", data_dir: str | None = None) -> str | None:
    """The Hunspell folder of the rule data (``UTKAST_LT_DATA_DIR`` or the installed package)."""
    lang = language.split("-")[0]
    base = data_dir or os.environ.get("UTKAST_LT_DATA_DIR")
    if not base:
        try:
            base = __import__(f"lingotweaker_data_{lang}").data_dir()
        except ImportError:
            return None
    folder = Path(base) / lang / "hunspell"
    return str(folder) if (folder / f"{'sv_SE' if lang == 'sv' else lang}.dic").is_file() else None


def open_lexicon(language: str = "sv-SE", data_dir: str | None = None) -> Lexicon | None:
    folder = hunspell_dir(language, data_dir)
    return load_lexicon(folder) if folder else None


def open_tagger(language: str = "sv-SE", data_dir: str | None = None) -> TagDictionary | None:
    return tag_dictionary_for(hunspell_dir(language, data_dir))


@dataclass
class Flagged:
    """A spelling finding's token in its paragraph."""

    start: int
    end: int
    token: str
    suggestions: list[str]


def token_at(text: str, start: int, end: int) -> tuple[int, int]:
    """The whole token around ``text[start:end]`` (letters, digits and . @ / : ' -), without
    punctuation at its ends."""
    a, b = start, end
    while a > 0 and TOKEN_CHARS.match(text[a - 1]):
        a -= 1
    while b < len(text) and TOKEN_CHARS.match(text[b]):
        b += 1
    while b > a and text[b - 1] in ".:'’-/":
        b -= 1
    while a < b and text[a] in ":'’-/":
        a += 1
    return a, max(b, a)


def at_sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    while before and before[-1] in OPENERS:
        before = before[:-1].rstrip()
    return not before or before[-1] in SENTENCE_END or bool(re.search(r"(?:^|\n)\s*(?:\d+[.)]|[-*•])$", before))


def one_letter_apart(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance 1 (one letter added, dropped, changed or two swapped)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    i = next((k for k in range(len(short)) if short[k] != long[k]), len(short))
    return short[i:] == long[i + 1:]


def compound_accepted(lexicon: Lexicon, token: str, suggestions: list[str]) -> bool:
    """Is ``token`` a compound of dictionary words rather than a misspelling? Not when the
    speller suggests a word one letter away: that is a misspelling (``tillsamans``) or a
    compound the speller knows with another joint (``släktsträffar`` -> ``släktträffar``,
    ``modermål`` -> ``modersmål``)."""
    if not lexicon.split(token):
        return False
    lower = token.lower()
    return not any(one_letter_apart(lower, s.lower()) or (s != token and s.lower() == lower) for s in suggestions)


def hyphen_compound_accepted(lexicon: Lexicon, token: str) -> bool:
    """``shape-fil``, ``OSPO-funktionen``: a last part that is Swedish (the hyphen marks the
    foreign or abbreviated first part, as the writing rules ask)."""
    parts = token.split("-")
    if len(parts) < 2 or not parts[-1] or not all(parts):
        return False
    last = parts[-1]
    return lexicon.is_word(last) or bool(lexicon.split(last))


_CAPITALISED = re.compile(r"(?<![\w-])[A-ZÅÄÖ][a-zåäöéü]+(?:[:'’]s)?(?![\w-])")


def names_in(texts: list[str]) -> frozenset[str]:
    """Capitalised words written somewhere in the document other than at the start of a
    sentence: names (``Riad``, ``Saari``), also where a sentence starts with them."""
    names = set()
    for text in texts:
        for m in _CAPITALISED.finditer(text):
            if not at_sentence_start(text, m.start()):
                names.add(m.group())
    return frozenset(names)


def words_between(text: str, a: int, b: int) -> list[str]:
    return re.findall(r"[\w'’]+", text[a:b])


def drop_reasons(text: str, flagged: list[Flagged], lexicon: Lexicon | None,
                 names: frozenset[str] = frozenset(), tagger: TagDictionary | None = None) -> dict[int, str]:
    """For the spelling findings of one paragraph, why each one that is not a misspelling
    is dropped: index in ``flagged`` -> reason."""
    reasons: dict[int, str] = {}
    tokens = []
    for i, f in enumerate(flagged):
        a, b = token_at(text, f.start, f.end)
        tokens.append((a, b, text[a:b] or f.token))
    spans = sorted({(a, b) for a, b, _ in tokens})
    for i, (f, (a, b, token)) in enumerate(zip(flagged, tokens)):
        reason = not_a_word(token)
        if reason is None and (token in names or token.split("-")[0] in names):
            reason = "known name"
        if reason is None and token[:1].isupper() and "-" not in token and not at_sentence_start(text, a):
            reason = "name"
        if (reason is None and tagger is not None and tagger.knows(token)
                and not any(" " in s and s.replace(" ", "").lower() == token.lower() for s in f.suggestions)):
            reason = "tagger word"  # but not "tillslut" where the speller says "till slut"
        if reason is None and lexicon is not None:
            if lexicon.is_word(token):
                reason = "dictionary word"
            elif compound_accepted(lexicon, token, f.suggestions):
                reason = "compound"
            elif "-" in token and hyphen_compound_accepted(lexicon, token):
                reason = "hyphenated compound"
        if reason is None and _in_foreign_phrase(text, (a, b), spans):
            reason = "foreign phrase"
        if reason is None and token.lower() in ENGLISH_GLUE and _next_to_name(text, a, b):
            reason = "foreign phrase"  # "Bill of Materials"
        if reason is None and _gloss_in_parentheses(text, a, b, spans):
            reason = "gloss in parentheses"
        if reason is None and lexicon is not None and _inflected_form(lexicon, token, f.suggestions):
            reason = "inflected form"  # "sverigesvenskan": the speller lists "sverigesvenska" only
        if reason is None and _glued_to_a_symbol(text, a, b):
            reason = "part of a garbled token"  # "m$ndighet": not a word to correct letter by letter
        if reason is None and _quoted(text, a, b) and not _one_letter_from_a_suggestion(token, f.suggestions):
            reason = "quoted word"  # a word cited in quotation marks: "openminded"
        if reason:
            reasons[i] = reason
    return reasons


def _inflected_form(lexicon: Lexicon, token: str, suggestions: list[str]) -> bool:
    """Is ``token`` the definite form of a long word the speller suggests, a form its word list
    lacks (``sverigesvenskan`` of ``sverigesvenska``, ``norsktalandet`` of ``norsktalande``)?"""
    lower = token.lower()
    return any(len(s) >= MIN_INFLECTED and lower[:len(s)] == s.lower() and lower[len(s):] in DEFINITE_ENDINGS
               and lexicon.is_word(s) for s in suggestions)


def _glued_to_a_symbol(text: str, a: int, b: int) -> bool:
    """Is the word written together with a symbol (``m$ndighet``)?"""
    return (a > 0 and text[a - 1] in SYMBOLS) or (b < len(text) and text[b] in SYMBOLS)


def _one_letter_from_a_suggestion(token: str, suggestions: list[str]) -> bool:
    lower = token.lower()
    return any(one_letter_apart(lower, s.lower()) for s in suggestions)


def _quoted(text: str, a: int, b: int) -> bool:
    """Is the word alone in quotation marks (``”millennial”``)?"""
    return 0 < a and b < len(text) and text[a - 1] in QUOTES_OPEN and text[b] in QUOTES_CLOSE


def _in_foreign_phrase(text: str, span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    """Is another unknown word next to this one (only spaces, a comma, a slash or an English
    function word between)?"""
    a, b = span
    for c, d in spans:
        if (c, d) == span:
            continue
        gap = text[b:c] if c >= b else text[d:a] if d <= a else None
        if gap is None:
            continue
        between = words_between(text, min(b, d), max(a, c))
        if re.fullmatch(r"[\s,/&]*", gap) or (len(between) == 1 and between[0].lower() in ENGLISH_GLUE
                                               and re.fullmatch(r"[\s,]*\w+[\s,]*", gap)):
            return True
    return False


def _next_to_name(text: str, a: int, b: int) -> bool:
    """Is the word before or after ``text[a:b]`` capitalised (a name the phrase belongs to)?"""
    before = re.search(r"([\w'’-]+)\W{0,2}$", text[:a])
    after = re.match(r"\W{0,2}([\w'’-]+)", text[b:])
    return any(m and m.group(1)[:1].isupper() for m in (before, after))


def _gloss_in_parentheses(text: str, a: int, b: int, spans: list[tuple[int, int]]) -> bool:
    """``Gren (branch)``, ``Kodförråd (repository, repo)``: every word in the parentheses is unknown."""
    open_at = text.rfind("(", 0, a)
    close_at = text.find(")", b)
    if open_at < 0 or close_at < 0 or ")" in text[open_at:a] or "(" in text[b:close_at]:
        return False
    inside = [(m.start() + open_at + 1, m.end() + open_at + 1)
              for m in re.finditer(r"[^\s,;/]+", text[open_at + 1:close_at])]
    return bool(inside) and all(any(c <= s and e <= d for c, d in spans) or not_a_word(text[s:e])
                                for s, e in inside)
