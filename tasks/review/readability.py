"""Plain language (klarspråk) figures of one report: LIX, sentence length, long sentences and
the share of passive verbs.

LIX (läsbarhetsindex, Björnsson) is the words per sentence plus the percentage of long words
(more than six letters). Its usual Swedish reading:

    < 25  mycket lättläst (barnböcker)          45–54  svår (facktext, myndighetstext)
    25–34 lättläst (skönlitteratur, veckopress)  ≥ 55  mycket svår (byråkratsvenska)
    35–44 medelsvår (vanlig tidningstext)

Every paragraph, heading, list item and table cell ends a sentence. Passive verbs are the
s-forms of verbs (``genomförs``, ``gjordes``) that the tagger dictionary knows, not the
deponent verbs whose own form ends in -s (``hoppas``, ``finnas``), plus ``bli`` with a past
participle (``blev uppskattad``).
"""

from __future__ import annotations

import re

LIX_LEVELS = ((25, "mycket lättläst"), (35, "lättläst"), (45, "medelsvår"), (55, "svår"), (10_000, "mycket svår"))
LIX_EXAMPLES = {"mycket lättläst": "som barnböcker", "lättläst": "som skönlitteratur och veckopress",
                "medelsvår": "som vanlig tidningstext", "svår": "som facktext och myndighetstext",
                "mycket svår": "som byråkratisk text"}
WORD = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?")
SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’»)]*\s+(?=[\"”“'«»(–-]?[A-ZÅÄÖ0-9])")
BLI = frozenset({"bli", "blir", "blev", "blivit", "bliva", "blivande"})


def lix_level(lix: float) -> str:
    """The usual Swedish reading of a LIX value (``medelsvår`` …)."""
    return next(label for limit, label in LIX_LEVELS if lix < limit)


def sentences_of(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of one paragraph."""
    spans, start = [], 0
    for m in SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if WORD.search(text[a:b])]


def readability(texts: list[str], long_sentence_words: int = 30, tagger=None) -> dict:
    """The figures of one report, from its paragraphs ``texts`` (in order).

    Returns ``lix``, ``level`` (Swedish), ``words``, ``sentences``, ``long_words``,
    ``average_sentence_words``, ``long_sentence_words`` (the limit), ``long_sentences``
    (each: ``block``, ``block_offset``, ``length``, ``words``, ``text``), ``verbs``,
    ``passive_verbs`` and ``passive_share`` (0–1; None without a tagger dictionary)."""
    words = long_words = n_sentences = 0
    long_sentences = []
    verbs = passive = 0
    for index, text in enumerate(texts):
        tokens = WORD.findall(text)
        if tagger is not None:
            v, p = _verbs(tokens, tagger)
            verbs, passive = verbs + v, passive + p
        for a, b in sentences_of(text):
            n = len(WORD.findall(text[a:b]))
            n_sentences += 1
            if n > long_sentence_words:
                long_sentences.append({"block": index, "block_offset": a, "length": b - a, "words": n,
                                       "text": text[a:b]})
        words += len(tokens)
        long_words += sum(1 for t in tokens if len(t.replace("-", "")) > 6)
    if not words:
        return {"lix": 0.0, "level": lix_level(0), "words": 0, "sentences": 0, "long_words": 0,
                "average_sentence_words": 0.0, "long_sentence_words": long_sentence_words,
                "long_sentences": [], "verbs": 0, "passive_verbs": 0, "passive_share": None}
    lix = words / max(n_sentences, 1) + 100 * long_words / words
    return {
        "lix": round(lix, 1), "level": lix_level(lix), "level_example": LIX_EXAMPLES[lix_level(lix)],
        "words": words, "sentences": n_sentences, "long_words": long_words,
        "average_sentence_words": round(words / max(n_sentences, 1), 1),
        "long_sentence_words": long_sentence_words, "long_sentences": long_sentences,
        "verbs": verbs, "passive_verbs": passive,
        "passive_share": round(passive / verbs, 3) if tagger is not None and verbs else None,
    }


def _verbs(tokens: list[str], tagger) -> tuple[int, int]:
    """(verbs, passive verbs) among ``tokens``, by the tagger dictionary's readings."""
    verbs = passive = 0
    previous_bli = False
    for token in tokens:
        readings = tagger.lookup(token) or (tagger.lookup(token.lower()) if token[:1].isupper() else ())
        tags = {tag for _, tag in readings}
        is_verb = any(t.startswith("VB:") and not t.startswith("VB:PPC") for t in tags)
        if is_verb:
            verbs += 1
            s_form = [lemma for lemma, tag in readings if tag.startswith("VB:") and tag.endswith(":PF")]
            if s_form and not any(lemma.endswith("s") for lemma in s_form):
                passive += 1
        elif previous_bli and any(t.startswith("VB:PPC") for t in tags):
            passive += 1
        previous_bli = token.lower() in BLI
    return verbs, passive
