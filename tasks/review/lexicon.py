"""Swedish words the speller does not list but a reader accepts: compounds, acronyms, names.

Swedish makes new words by compounding (``hotmodellering``, ``kodförråd``,
``attackytanalys``): no dictionary lists them all. The engine's speller (Hunspell's
``sv_SE``) accepts a compound only when each part carries a compounding flag, so ordinary
compounds of ordinary words are reported as misspellings. :class:`Lexicon` reads the same
Hunspell files (``sv/hunspell/sv_SE.dic`` and ``.aff`` of the rule data) and looks words up
the way Hunspell does (stem + suffix rule), and :meth:`Lexicon.split` accepts a word that
splits into dictionary words, with the joints Swedish uses: ``-s-`` (``objektstyper``),
``-e-``, ``-a-``, ``-u-``, ``-o-`` and a dropped final vowel (``skola`` -> ``skolbuss``,
``yta`` -> ``ytobjekt``). Each part must be a word of its own of at least three letters
and not a function word (``karat|än|period`` is no compound), so a misspelt word
rarely passes as a compound.

:func:`not_a_word` covers what is not Swedish prose at all: acronyms in capitals
(``CI``, ``SAST:s``), words with digits, file names and extensions, web and e-mail
addresses and names written in CamelCase (``GitHub``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

MIN_COMPOUND = 7  # letters in a compound ("bojler" is no boj|ler)
MIN_PART = 3  # letters in a part of a compound (the dictionary word, before a joint or a dropped vowel)
JOINTS = ("s", "e", "a", "u", "o")
DROPPED_VOWELS = ("a", "e", "o")
# Closed-class words that do not start or end a compound (a misspelling that splits
# into one of them and a noun is no compound): pronouns, conjunctions, subjunctions,
# a few short adverbs.
FUNCTION_WORDS = frozenset("""
jag du han hon den det vi ni de dem dom man sig mig dig oss er sin sitt sina min mitt mina din ditt dina
hans hennes dess deras vår vårt våra ert era denna detta dessa vilken vilket vilka som att och men eller
samt utan än då när om medan eftersom fast trots ju nog väl inte icke ej ja nej så här där hit dit
ner upp var hur vad varför alla allt inga inget ingen någon något några mycket lite bara också även
""".split())


@functools.lru_cache(maxsize=4)
def load_lexicon(hunspell_dir: str) -> "Lexicon":
    """The lexicon of the Hunspell files in ``hunspell_dir`` (read once per process)."""
    folder = Path(hunspell_dir)
    return Lexicon((folder / "sv_SE.dic").read_text(encoding="utf-8"),
                   (folder / "sv_SE.aff").read_text(encoding="utf-8"),
                   _extra_words(folder))


def _extra_words(folder: Path) -> list[str]:
    """The speller's own extra words (``spelling.txt``, which also holds the project dictionary)."""
    path = folder / "spelling.txt"
    if not path.is_file():
        return []
    return [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.split("#", 1)[0].strip()]


class Lexicon:
    """Hunspell-style lookup: a stem from the ``.dic`` file plus one suffix rule of the ``.aff``."""

    def __init__(self, dic: str, aff: str, extra: list[str] = ()):
        self.flags: dict[str, str] = {}
        lines = dic.splitlines()
        for line in lines[1:]:
            word, _, flags = line.partition("/")
            word = word.strip()
            if word:
                self.flags[word] = self.flags.get(word, "") + flags.strip()
        for word in extra:
            self.flags.setdefault(word, "")
        self.forbidden = self.needaffix = self.onlyincompound = self.compound_ok = ""
        suffixes: dict[str, list[tuple[str, str, re.Pattern, str]]] = {}
        for line in aff.splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "FORBIDDENWORD" and len(parts) > 1:
                self.forbidden = parts[1]
            elif parts[0] == "NEEDAFFIX" and len(parts) > 1:
                self.needaffix = parts[1]
            elif parts[0] == "ONLYINCOMPOUND" and len(parts) > 1:
                self.onlyincompound = parts[1]
            elif parts[0] in ("COMPOUNDBEGIN", "COMPOUNDMIDDLE", "COMPOUNDPERMITFLAG") and len(parts) > 1:
                self.compound_ok += parts[1]
            elif parts[0] == "SFX" and len(parts) >= 5:
                flag, strip, add, condition = parts[1], parts[2], parts[3], parts[4]
                add, _, cont = add.partition("/")
                strip = "" if strip == "0" else strip
                add = "" if add == "0" else add
                pattern = re.compile("(?:" + condition.replace("(", r"\(").replace(")", r"\)") + ")$")
                suffixes.setdefault(add, []).append((flag, strip, pattern, cont))
        self.suffixes = suffixes
        self.adds = sorted(suffixes, key=len)
        #: The tagger dictionary (tasks.review.tagdict), when known: its nouns and adjectives
        #: may be parts of a compound too (``cola`` in ``colaföretagen``).
        self.tagger = None

    # --- single words ------------------------------------------------------------------------

    def _stem_ok(self, stem: str, flag: str | None) -> bool:
        flags = self.flags.get(stem)
        if flags is None:
            return False
        if self.forbidden and self.forbidden in flags:
            return False
        if flag is None:  # the bare stem: not one that needs an affix or lives only in compounds
            return not ((self.needaffix and self.needaffix in flags)
                        or (self.onlyincompound and self.onlyincompound in flags))
        return flag in flags

    def _lookup(self, word: str, compound_form: bool) -> bool:
        """Is ``word`` a form (``compound_form``: also the first-part forms, e.g. ``affärs``)?"""
        if self._stem_ok(word, None):
            return True
        if compound_form and word in self.flags and any(f in self.flags[word] for f in self.compound_ok):
            return True

        def allowed(cont: str) -> bool:  # forms only a compound may have: only when asked for
            return compound_form or not (self.onlyincompound and self.onlyincompound in cont)

        return any(self._stem_ok(stem, flag) for flag, stem in self._suffix_stems(word, allowed))

    def _suffix_stems(self, word: str, keep):
        """(flag, stem) for each suffix rule that could have made ``word`` (its ending and its
        condition fit) and whose continuation flags ``keep`` accepts."""
        for add in self.adds:
            if len(add) >= len(word):
                break
            if add and not word.endswith(add):
                continue
            base = word[:len(word) - len(add)] if add else word
            for flag, strip, condition, cont in self.suffixes[add]:
                if keep(cont):
                    stem = base + strip
                    if condition.search(stem):
                        yield flag, stem

    @functools.lru_cache(maxsize=200_000)
    def is_word(self, word: str) -> bool:
        """Is ``word`` a form the dictionary lists? A capitalised word may be a lower-case entry
        (at the start of a sentence), a word in capitals either; a lower-case word is never
        taken for a name (``sverige``)."""
        if not word:
            return False
        forms = [word]
        if word[:1].isupper():
            forms.append(word.lower())
        if word.isupper():
            forms.append(word[:1] + word[1:].lower())
        return any(self._lookup(form, False) for form in dict.fromkeys(forms))

    @functools.lru_cache(maxsize=200_000)
    def _head_word(self, word: str) -> bool:
        """Can ``word`` start a compound as it is? A dictionary entry (a lemma, not an inflected
        form: ``solen`` does not start ``solenkräm``) that is not a function word, or a
        first-part form the dictionary marks (``ränte``, ``affärs``, ``data``). An entry
        ending in ``-a`` needs that mark (``grotta`` -> ``grott-``, not ``grottaflicka``)."""
        if len(word) < MIN_PART or word in FUNCTION_WORDS:
            return False
        flags = self.flags.get(word)
        if flags is not None and any(f in flags for f in self.compound_ok):
            return True
        if self._compound_form(word):
            return True
        if flags is not None and not word.endswith("a") and self._stem_ok(word, None):
            return True
        return self._tagger_has(word, ("NN:OF:SIN:NOM:", "JJ:PU"), lemma=True)

    def _tagger_has(self, word: str, tags: tuple[str, ...], lemma: bool = False) -> bool:
        if self.tagger is None or len(word) < MIN_PART + 1:
            return False
        return any(tag.startswith(tags) and (not lemma or base == word) for base, tag in self.tagger.lookup(word))

    def _compound_form(self, word: str) -> bool:
        """A first-part form made by a suffix rule that allows compounding (``affär`` -> ``affärs``)."""

        def compounding(cont: str) -> bool:
            return bool(cont) and any(f in cont for f in self.compound_ok)

        return any(self._stem_ok(stem, flag) for flag, stem in self._suffix_stems(word, compounding))

    def _tail_word(self, word: str) -> bool:
        return len(word) >= MIN_PART and word not in FUNCTION_WORDS and (
            self._lookup(word, False) or self._tagger_has(word, ("NN:", "JJ:", "VB:PPC")))

    # --- compounds -------------------------------------------------------------------------

    def split(self, word: str) -> list[str] | None:
        """The parts of ``word`` as a compound of dictionary words (joints kept on the part
        before them), or None. ``hotmodellering`` -> ``["hot", "modellering"]``."""
        if "-" in word:
            parts = [p for p in word.split("-")]
            if len(parts) > 1 and all(p and (self.is_word(p) or self.split(p)) for p in parts):
                return parts
            return None
        lower = word.lower()
        if len(lower) < MIN_COMPOUND:
            return None
        return self._split(lower, 0)

    @functools.lru_cache(maxsize=100_000)
    def _split(self, word: str, depth: int) -> list[str] | None:
        if depth > 3:
            return None
        # Longest tail first: "arbets|marknad" before "arbetsmark|nad".
        for i in range(MIN_PART - 1, len(word) - MIN_PART + 1):
            head, tail = word[:i], word[i:]
            if not self._tail_word(tail):
                continue
            if self._head(head):
                return [head, tail]
            if depth < 3:
                for j in range(MIN_PART - 1, len(head) - 1):
                    if self._head(head[j:]) and (self._head(head[:j]) or False):
                        return [head[:j], head[j:], tail]
        return None

    @functools.lru_cache(maxsize=200_000)
    def _head(self, head: str) -> bool:
        """Is ``head`` a first part: a word, a word + joint, or a word without its final vowel?"""
        if self._head_word(head):
            return True
        if head[-1:] in JOINTS and self._head_word(head[:-1]):
            return True
        if head[-1:] not in "aeiouyåäö" and len(head) >= MIN_PART - 1 and any(
                (head + v) not in FUNCTION_WORDS and self._stem_ok(head + v, None) for v in DROPPED_VOWELS):
            return True  # skola -> skol|buss, yta -> yt|objekt
        if head.endswith(("es", "us")) and self._head_word(head[:-2]):
            return True
        return False


# --- not words at all -------------------------------------------------------------------------

_ACRONYM = re.compile(r"^[A-ZÅÄÖ]{2,}[A-ZÅÄÖ0-9]*(?::[a-zåäö]{1,5}|s)?$")
_CAMEL = re.compile(r"^[A-ZÅÄÖa-zåäö]+[a-zåäö][A-ZÅÄÖ][A-Za-zåäöÅÄÖ]*$")
_ADDRESS = re.compile(r"[@/\\_]|\w\.\w")


def not_a_word(token: str) -> str | None:
    """Why ``token`` is not a word to spell-check (a short English reason), or None."""
    core = token.strip(".,;:!?()[]{}\"'”“’‘«»")
    if not core:
        return "punctuation"
    if any(ch.isdigit() for ch in core):
        return "digits"
    if token.startswith(".") and len(core) > 1:
        return "file extension"
    if _ADDRESS.search(core):
        return "address or file name"
    first = core.split("-")[0]
    if _ACRONYM.match(core) or _ACRONYM.match(first):
        return "acronym"
    if _CAMEL.match(first):
        return "name in CamelCase"
    return None
