"""A learned detector of Swedish token errors, beside the rules.

The rules (LanguageTool's Swedish rules and the project's own in ``templates/regler/``) find
what someone wrote a pattern for. The detector is a linear-chain CRF (CRFsuite, through
``python-crfsuite``) trained on the train split of MultiGED-2023 (SweLL-gold learner essays,
``scripts/train_detector.py``): it marks tokens that look wrong from what surrounds them.
Its features are all local and all from what the review already has:

- the word itself, its shape, its ending; whether the speller (Hunspell ``sv_SE``), the
  tagger dictionary (SALDO) and the engine's list of common words know it;
- every reading the tagger dictionary gives the word and its neighbours (no disambiguation:
  the set of readings is the feature), and pairs of readings of neighbouring words, which is
  where agreement errors show (``en`` + a neuter noun);
- neighbouring words and word pairs (their weights are the train split's word statistics);
- the rules' own hits on the token and next to it.

A token is reported when the model's marginal probability of "error" reaches the threshold
chosen on the dev split (stored with the model). Runs of reported tokens become one finding
with a Swedish message that says what looks wrong (from the word's readings: agreement,
verb form, preposition, word order, punctuation, spelling) and, where the tagger's
synthesis dictionary has another form of the same word that fits the neighbours better
(word pairs of the train split), a suggestion. A finding never shows a bare score.
"""

from __future__ import annotations

import functools
import threading
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tasks.review.lexicon import Lexicon
from tasks.review.tagdict import TagDictionary, load_tag_dictionary

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "detector.crfsuite"
META_FILE = "detector.json"
RULE_ID = "UTK_MODELL"
CATEGORY_ID = "LEARNED_DETECTOR"
CATEGORY_NAME = "Kanske fel (inlärd granskning)"

# Tokens as in MultiGED: words (with inner hyphens, colons and apostrophes) and single marks.
TOKEN = re.compile(r"\w+(?:[-:'’]\w+)*|[^\w\s]")
PUNCT = re.compile(r"^[^\w]+$")


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Words and marks of ``text`` with their character spans."""
    return [Token(m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)]


def shape(word: str) -> str:
    if PUNCT.match(word):
        return "P"
    if any(ch.isdigit() for ch in word):
        return "D"
    if word.isupper() and len(word) > 1:
        return "XX"
    if word[:1].isupper():
        return "Xx"
    return "x"


class Vocabulary:
    """What the engine's data knows about a word: speller, tagger readings, common words."""

    def __init__(self, lexicon: Lexicon | None, tagger: TagDictionary | None, common: dict[str, int]):
        self.lexicon = lexicon
        self.tagger = tagger
        self.common = common

    @functools.lru_cache(maxsize=200_000)
    def readings(self, word: str) -> tuple[str, ...]:
        """The tagger's tags for ``word`` (also its lower-case form when capitalised), sorted."""
        if self.tagger is None or PUNCT.match(word):
            return ()
        return tuple(sorted(self.tagger.tags(word)))

    @functools.lru_cache(maxsize=200_000)
    def word_features(self, word: str) -> tuple[str, ...]:
        """Features of the word alone (cached: most words recur)."""
        lower = word.lower()
        kind = shape(word)
        feats = ["w=" + lower, "s=" + kind]
        if kind == "P":
            return tuple(feats)
        feats += ["suf2=" + lower[-2:], "suf3=" + lower[-3:]]
        tags = self.readings(word)
        known = bool(tags) or (self.lexicon is not None and self.lexicon.is_word(word))
        if not known and kind in ("x", "Xx"):
            feats.append("unknown")
            if self.lexicon is not None and self.lexicon.split(word):
                feats.append("compound")
        rank = self.common.get(lower)
        feats.append("cw=" + ("none" if rank is None else "100" if rank < 100 else "1k" if rank < 1000 else "10k"))
        feats += ["t=" + t for t in tags[:8]]
        feats.append("pos=" + pos_signature(tags))
        return tuple(feats)


def capital_inside(words: list[str], i: int) -> bool:
    """Word ``i`` is capitalised but does not begin a sentence (nor follow a colon): a name,
    or a capital where it does not belong."""
    return bool(i) and words[i][:1].isupper() and words[i - 1] not in ".!?:"


def pos_signature(tags: tuple[str, ...]) -> str:
    """The parts of speech a word may be (``NN/VB``), or ``-`` when the tagger does not know it."""
    return "/".join(sorted({t.split(":")[0] for t in tags})) or "-"


def short_tags(tags: tuple[str, ...]) -> list[str]:
    """Readings cut to what agreement needs: part of speech, definiteness, number, gender."""
    out = set()
    for t in tags:
        parts = t.split(":")
        if parts[0] in ("NN", "JJ", "DT", "PN", "PS", "HD", "HP", "HS", "PC"):
            out.add(":".join(p for p in parts if p in ("NN", "JJ", "DT", "PN", "PS", "HD", "HP", "HS", "PC", "OF", "BF",
                                                      "SIN", "PLU", "UTR", "NEU", "MAS", "POS", "KOM", "SUV",
                                                      "SUB", "OBJ")))
        elif parts[0] == "VB":
            out.add(":".join(parts[:2]))
        else:
            out.add(parts[0])
    return sorted(out)[:6]


def sentence_features(vocab: Vocabulary, tokens: list[Token], rule_spans: list[tuple[int, int, str]]) -> list[list[str]]:
    """The CRF's features for each token of one paragraph."""
    words = [t.text for t in tokens]
    own = [vocab.word_features(w) for w in words]
    sigs = ["P" if PUNCT.match(w) else pos_signature(vocab.readings(w)) for w in words]
    shorts = [short_tags(vocab.readings(w)) if sigs[i] != "P" else [w] for i, w in enumerate(words)]
    lowers = [w.lower() for w in words]
    hits = [sorted({r for a, b, r in rule_spans if a < t.end and t.start < max(b, a + 1)}) for t in tokens]
    n = len(tokens)
    unknown = sum("unknown" in fs for fs in own)
    flagged = sum(bool(h) for h in hits)
    context = ["su=" + str(min(unknown, 3)), "sr=" + str(min(flagged, 3)),
               "len=" + ("short" if n < 8 else "mid" if n < 25 else "long")]
    out = []
    for i in range(n):
        feats = list(own[i])
        prev_w = lowers[i - 1] if i else "<s>"
        next_w = lowers[i + 1] if i + 1 < n else "</s>"
        prev_s = sigs[i - 1] if i else "<s>"
        next_s = sigs[i + 1] if i + 1 < n else "</s>"
        feats += ["w-1=" + prev_w, "w+1=" + next_w, "bw=" + prev_w + "|" + lowers[i], "fw=" + lowers[i] + "|" + next_w,
                  "p-1=" + prev_s, "p+1=" + next_s, "pp=" + prev_s + "|" + sigs[i], "pn=" + sigs[i] + "|" + next_s,
                  "ppp=" + (sigs[i - 2] if i > 1 else "<s>") + "|" + prev_s + "|" + sigs[i],
                  "pnn=" + sigs[i] + "|" + next_s + "|" + (sigs[i + 2] if i + 2 < n else "</s>"),
                  "w-2=" + (lowers[i - 2] if i > 1 else "<s>"), "w+2=" + (lowers[i + 2] if i + 2 < n else "</s>")]
        if i:
            feats += ["tt-1=" + a + "|" + b for a in shorts[i - 1] for b in shorts[i]]
        if i + 1 < n:
            feats += ["tt+1=" + a + "|" + b for a in shorts[i] for b in shorts[i + 1]]
        if i > 1:
            feats += ["tt-2=" + a + "|" + b for a in shorts[i - 2] for b in shorts[i]]
        if i + 2 < n:
            feats += ["tt+2=" + a + "|" + b for a in shorts[i] for b in shorts[i + 2]]
        feats += context
        if i == 0:
            feats.append("first")
        if i == n - 1:
            feats.append("last")
        if capital_inside(words, i):
            feats.append("cap-inside")
        if i == 0 and words[i][:1].islower():
            feats.append("lower-start")
        feats += ["r=" + r for r in hits[i]]
        if hits[i]:
            feats.append("rule")
        if (i and hits[i - 1]) or (i + 1 < n and hits[i + 1]):
            feats.append("rule-near")
        out.append(feats)
    return out


def common_words(hunspell_dir: str | None) -> dict[str, int]:
    """The engine's list of common Swedish words (``sv/words/common_words.txt``): word -> rank."""
    if not hunspell_dir:
        return {}
    path = Path(hunspell_dir).parent / "words" / "common_words.txt"
    if not path.is_file():
        return {}
    words = [w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines() if w.strip() and not w.startswith("#")]
    return {w: i for i, w in reversed(list(enumerate(words)))}


@functools.lru_cache(maxsize=4)
def open_vocabulary(language: str = "sv-SE", data_dir: str | None = None) -> Vocabulary:
    """The speller's lexicon, the tagger dictionary and the common words of the rule data."""
    from tasks.review.spelling import hunspell_dir, open_lexicon, open_tagger

    folder = hunspell_dir(language, data_dir)
    return Vocabulary(open_lexicon(language, data_dir), open_tagger(language, data_dir), common_words(folder))


# --- suggestions and messages ----------------------------------------------------------------

# Words learners mix up that are not forms of one lemma in the tagger's sense.
CONFUSABLE = [("de", "dem"), ("en", "ett"), ("den", "det"), ("var", "vart"), ("sin", "hans", "hennes"),
              ("sitt", "hans", "hennes"), ("sina", "hans", "hennes"), ("han", "honom"), ("hon", "henne"),
              ("vi", "oss"), ("jag", "mig"), ("ni", "er"), ("när", "då"), ("för", "att"), ("som", "vad"),
              ("på", "i"), ("om", "på"), ("till", "för")]
CONFUSION = {w: tuple(x for x in group if x != w) for group in CONFUSABLE for w in group}
MAX_CANDIDATES = 12


class Synthesizer:
    """Other forms of a word's lemma, from the tagger's synthesis dictionary (``swedish_synth.dict``)."""

    def __init__(self, automaton: TagDictionary):
        self.automaton = automaton

    @functools.lru_cache(maxsize=20_000)
    def forms(self, lemma: str) -> tuple[tuple[str, str], ...]:
        """(form, tag) for every form of ``lemma``."""
        a = self.automaton
        out = []
        tails = a.completions((lemma + "|").encode("utf-8"), limit=200)
        for tail in tails:
            tag, _, code = tail.partition(bytes([a.sep]))
            text, tag = code.decode("utf-8", "replace"), tag.decode("utf-8", "replace")
            whole = lemma + "|" + tag
            cut = ord(text[0]) - ord("A") if text else 0
            out.append(((whole[:len(whole) - cut] if cut else whole) + text[1:], tag))
        return tuple(out)


def candidates(vocab: Vocabulary, synth: Synthesizer | None, word: str) -> list[str]:
    """Words that could stand where ``word`` is: other forms of its lemma, commonly mixed-up words."""
    lower = word.lower()
    found = list(CONFUSION.get(lower, ()))
    if synth is not None and vocab.tagger is not None:
        for lemma, tag in vocab.tagger.lookup(lower):
            pos = tag.split(":")[0]
            for form, other in synth.forms(lemma):
                if other.split(":")[0] == pos and form != lower and " " not in form:
                    found.append(form)
    found = list(dict.fromkeys(f for f in found if f != lower and (f in vocab.common or f in CONFUSION)))
    found = found[:MAX_CANDIDATES]
    if word[:1].isupper():
        found = [f[:1].upper() + f[1:] for f in found]
    return found


def describe(vocab: Vocabulary, words: list[str], first: bool) -> str:
    """What looks wrong, in Swedish, from what the words are (no score, no jargon)."""
    shown = " ".join(words)
    if len(words) > 1:
        return (f"”{shown}” ser inte ut att passa ihop här: kontrollera ordföljden, böjningen och "
                "ordvalet i den här delen av meningen.")
    word = words[0]
    if PUNCT.match(word):
        return f"Skiljetecknet ”{word}” ser inte ut att höra hemma här, eller så saknas något intill det."
    if word[:1].isupper() and not first and not word.isupper():
        return f"”{word}” har stor bokstav mitt i meningen. Är det inte ett namn skrivs det med liten bokstav."
    if "unknown" in vocab.word_features(word):
        return f"”{word}” finns inte i ordlistan. Kontrollera stavningen."
    pos = {t.split(":")[0] for t in vocab.readings(word)}
    if "PP" in pos:
        return f"Prepositionen ”{word}” används sällan så här. Kanske passar en annan preposition bättre?"
    if pos & {"PN", "PS", "HP", "HS"}:
        return (f"Pronomenet ”{word}” ser inte ut att passa här (till exempel de eller dem, han eller honom, "
                "sin eller hans).")
    if pos & {"KN", "SN", "AB", "IE", "IN"}:
        return f"”{word}” ser ut att stå på fel plats eller inte passa i meningen. Läs meningen igen."
    if "VB" in pos:
        return (f"Verbformen ”{word}” ser inte ut att passa här: kontrollera tempus och om det ska "
                "vara infinitiv (att göra), presens (gör) eller preteritum (gjorde).")
    if pos & {"NN", "JJ", "DT", "PC"}:
        return (f"”{word}” ser inte ut att ha rätt form här: kontrollera genus (en/ett), bestämd form "
                "och singular eller plural mot orden runt omkring.")
    return f"”{word}” ser ut att stå på fel plats eller inte passa i meningen. Läs meningen igen."


# --- how eager the model is: the neighbourhood's error density ----------------------------------


def rule_density(words: list[int], hits: list[int], window: int) -> list[float]:
    """Per paragraph: the rules' findings per 100 words in the paragraphs at most ``window``
    places before or after it (itself included), from each paragraph's word and finding counts."""
    sums_w, sums_h = [0], [0]
    for w, h in zip(words, hits):
        sums_w.append(sums_w[-1] + w)
        sums_h.append(sums_h[-1] + h)
    out = []
    for i in range(len(words)):
        lo, hi = max(0, i - window), min(len(words), i + window + 1)
        out.append(100 * (sums_h[hi] - sums_h[lo]) / max(1, sums_w[hi] - sums_w[lo]))
    return out


def dense_paragraphs(words: list[int], hits: list[int], dense_from: float, window: int) -> list[bool]:
    """Which paragraphs are in text written with many errors (a learner's essay): those where the
    rules find at least ``dense_from`` findings per 100 words around them (``window`` paragraphs
    either side). Elsewhere (fluent prose) the model's marks are mostly false alarms."""
    return [d >= dense_from for d in rule_density(words, hits, window)]


# --- the detector ------------------------------------------------------------------------------

SENTENCE_END = frozenset(".!?")
# The project's grammar rules (templates/regler/): the model may overrule these, not the
# speller, the house style, the term list or personal data.
VETOED_RULES = ("UTK_",)


def sentences(tokens: list[Token]) -> list[list[Token]]:
    """The tokens of a paragraph in sentences: a break after . ! ? before a capital, digit or mark."""
    out, cur = [], []
    for i, tok in enumerate(tokens):
        cur.append(tok)
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if tok.text in SENTENCE_END and nxt and (nxt[:1].isupper() or nxt[:1].isdigit() or PUNCT.match(nxt)) \
                and nxt not in SENTENCE_END:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


@dataclass
class Flag:
    """A run of tokens the model marks, with what to tell the writer."""

    start: int
    end: int
    message: str
    suggestions: list[str]


class Detector:
    """The trained model, ready to mark tokens (one per process; not shared between threads)."""

    def __init__(self, model_dir: Path = MODEL_DIR, language: str = "sv-SE", data_dir: str | None = None,
                 threshold: float | None = None):
        import pycrfsuite

        meta = json.loads((Path(model_dir) / META_FILE).read_text(encoding="utf-8"))
        self.threshold = float(threshold if threshold is not None else meta["threshold"])
        self.digest = meta["model_sha256"][:12]
        self.vocab = open_vocabulary(language, data_dir)
        self.synth = open_synthesizer(language, data_dir)
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(Path(model_dir) / MODEL_FILE))

    def probabilities(self, sentence: list[Token], rule_spans: list[tuple[int, int, str]]) -> list[float]:
        self._tagger.set(sentence_features(self.vocab, sentence, rule_spans))
        return [self._tagger.marginal("i", k) for k in range(len(sentence))]

    def find(self, text: str, rule_spans: list[tuple[int, int, str]], skip: list[tuple[int, int]] = (),
             veto: float = 0.0, threshold: float | None = None) -> tuple[list[Flag], set[int]]:
        """What the model marks in one paragraph that no rule already reports (nothing in ``skip``),
        and which of ``rule_spans`` it overrules: a grammar rule's finding (``UTK_``) on words
        the model gives less than ``veto`` chance of being wrong. ``threshold``: this paragraph's
        (in error-dense text, :func:`dense_paragraphs`), else the detector's own."""
        threshold = self.threshold if threshold is None else threshold
        flags, doubted = [], {}
        covered = [(a, max(b, a + 1)) for a, b, _ in rule_spans] + list(skip)
        for sentence in sentences(tokenize(text)):
            probs = self.probabilities(sentence, rule_spans)
            for n, (a, b, rule) in enumerate(rule_spans):
                if rule.startswith(VETOED_RULES):
                    inside = [p for t, p in zip(sentence, probs) if a < t.end and t.start < max(b, a + 1)]
                    if inside:
                        doubted[n] = max(doubted.get(n, 0.0), max(inside))
            run: list[int] = []
            for k in range(len(sentence) + 1):
                marked = k < len(sentence) and probs[k] >= threshold and self.reportable(sentence, k) \
                    and not any(a < sentence[k].end and sentence[k].start < b for a, b in covered)
                if marked:
                    run.append(k)
                    continue
                if run:
                    flags.append(self._flag(sentence, run, probs, rule_spans, threshold))
                    run = []
        return flags, {n for n, p in doubted.items() if p < veto}

    def reportable(self, sentence: list[Token], k: int) -> bool:
        """Words the rules judge better are left to them: a word the speller's list lacks (the
        speller and its filter for names and compounds decide) and a capitalised word inside a
        sentence (a name, in the reports partners write)."""
        word = sentence[k].text
        if k and word[:1].isupper():
            return False
        return "unknown" not in self.vocab.word_features(word)

    def _flag(self, sentence: list[Token], run: list[int], probs: list[float],
              rule_spans: list[tuple[int, int, str]], threshold: float) -> Flag:
        words = [sentence[k].text for k in run]
        suggestions = self._suggest(sentence, run[0], probs[run[0]], rule_spans, threshold) if len(run) == 1 else []
        return Flag(sentence[run[0]].start, sentence[run[-1]].end, describe(self.vocab, words, run[0] == 0),
                    suggestions)

    def _suggest(self, sentence: list[Token], k: int, prob: float, rule_spans, threshold: float) -> list[str]:
        """Another form of the word the model itself finds much less likely to be wrong, if any."""
        tok = sentence[k]
        best, best_p = None, min(prob / 2, threshold / 2)
        for cand in candidates(self.vocab, self.synth, tok.text):
            changed = sentence[:k] + [Token(cand, tok.start, tok.end)] + sentence[k + 1:]
            p = self.probabilities(changed, rule_spans)[k]
            if p < best_p:
                best, best_p = cand, p
        return [best] if best else []


@functools.lru_cache(maxsize=4)
def open_synthesizer(language: str = "sv-SE", data_dir: str | None = None) -> Synthesizer | None:
    from tasks.review.spelling import hunspell_dir

    folder = hunspell_dir(language, data_dir)
    path = Path(folder).parent / "dictionaries" / "swedish_synth.dict" if folder else None
    if path is None or not path.is_file():
        return None
    return Synthesizer(load_tag_dictionary(str(path)))



_LOCK = threading.Lock()


class SharedDetector:
    """One :class:`Detector` for the threads of a process (CRFsuite's tagger is not thread-safe)."""

    def __init__(self, detector: Detector):
        self.detector = detector

    def find(self, text: str, rule_spans, skip=(), veto: float = 0.0,
             threshold: float | None = None) -> tuple[list[Flag], set[int]]:
        with _LOCK:
            return self.detector.find(text, rule_spans, skip, veto, threshold)


@functools.lru_cache(maxsize=4)
def load_detector(language: str = "sv-SE", data_dir: str | None = None,
                  threshold: float | None = None) -> SharedDetector:
    """The shipped model, loaded once per process."""
    return SharedDetector(Detector(MODEL_DIR, language, data_dir, threshold))
