"""The engine's Swedish tagger dictionary, read in Python: which word forms it knows, with
their lemma and part-of-speech tags (the tags of ``sv/words/tagset.txt``).

``sv/dictionaries/swedish.dict`` (built from SALDO) is a morfologik automaton in its
compact format, version 2 ("CFSA2"). Each path spells ``form + lemma-code + tag`` in
UTF-8, with ``+`` between the three; the lemma is coded as how many characters to cut
from the end of the form (``A`` = none) followed by what to add. Looking a word up walks
the automaton along the word's bytes, then lists what follows the separator: no table is
built, so a lookup costs microseconds and loading costs reading one 640 kB file.

The speller (Hunspell) and the tagger have different word lists: ``cola`` is a noun to the
tagger but not in the speller's list. :mod:`tasks.review.spelling` asks here before it
reports a word as misspelt.
"""

from __future__ import annotations

import functools
from pathlib import Path

_NUMBERS = 1 << 8
_TARGET_NEXT = 1 << 7
_LAST_ARC = 1 << 6
_FINAL_ARC = 1 << 5
_LABEL_MASK = (1 << 5) - 1


class TagDictionary:
    """Lookups in one CFSA2 automaton (morfologik's compact format, version 2)."""

    def __init__(self, data: bytes, separator: str = "+"):
        if data[:4] != b"\\fsa" or data[4] != 0xC6:
            raise ValueError("not a morfologik CFSA2 automaton")
        flags = int.from_bytes(data[5:7], "big")
        self.numbers = bool(flags & _NUMBERS)
        size = data[7]
        self.mapping = data[8:8 + size]
        self.arcs = data[8 + size:]
        self.sep = separator.encode()[0]
        self.root = self._target(self._first_arc(0))

    # --- the automaton ------------------------------------------------------------------------

    def _first_arc(self, node: int) -> int:
        if self.numbers:
            while self.arcs[node] & 0x80:
                node += 1
            node += 1
        return node

    def _label(self, arc: int) -> int:
        index = self.arcs[arc] & _LABEL_MASK
        return self.mapping[index] if index else self.arcs[arc + 1]

    def _read_vint(self, offset: int) -> int:
        value, shift = 0, 0
        while True:
            b = self.arcs[offset]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            offset += 1
            shift += 7

    def _skip_arc(self, arc: int) -> int:
        flag = self.arcs[arc]
        arc += 1
        if not flag & _LABEL_MASK:
            arc += 1
        if not flag & _TARGET_NEXT:
            while self.arcs[arc] & 0x80:
                arc += 1
            arc += 1
        return arc

    def _target(self, arc: int) -> int:
        if self.arcs[arc] & _TARGET_NEXT:
            while not self.arcs[arc] & _LAST_ARC:
                arc = self._skip_arc(arc)
            return self._skip_arc(arc)
        return self._read_vint(arc + (1 if self.arcs[arc] & _LABEL_MASK else 2))

    def _arcs(self, node: int):
        arc = self._first_arc(node)
        while True:
            yield arc
            if self.arcs[arc] & _LAST_ARC:
                return
            arc = self._skip_arc(arc)

    def _step(self, node: int, label: int) -> int | None:
        for arc in self._arcs(node):
            if self._label(arc) == label:
                return arc
        return None

    def _suffixes(self, node: int, prefix: bytes, out: list[bytes], limit: int = 64) -> None:
        for arc in self._arcs(node):
            if len(out) >= limit:
                return
            path = prefix + bytes([self._label(arc)])
            if self.arcs[arc] & _FINAL_ARC:
                out.append(path)
            target = self._target(arc)
            if target:
                self._suffixes(target, path, out, limit)

    def completions(self, prefix: bytes, limit: int = 64) -> list[bytes]:
        """What follows ``prefix`` on the paths of the automaton (at most ``limit``)."""
        node = self.root
        for byte in prefix:
            arc = self._step(node, byte)
            if arc is None:
                return []
            node = self._target(arc)
            if not node:
                return []
        out: list[bytes] = []
        self._suffixes(node, b"", out, limit)
        return out

    # --- words -------------------------------------------------------------------------------

    @functools.lru_cache(maxsize=100_000)
    def lookup(self, word: str) -> tuple[tuple[str, str], ...]:
        """``(lemma, tag)`` for each reading of ``word`` as written (empty: unknown)."""
        tails = self.completions(word.encode("utf-8") + bytes([self.sep]))
        readings = []
        for tail in tails:
            code, _, tag = tail.partition(bytes([self.sep]))
            text = code.decode("utf-8", "replace")
            cut = ord(text[0]) - ord("A") if text else 0
            lemma = (word[:len(word) - cut] if cut else word) + text[1:]
            readings.append((lemma, tag.decode("utf-8", "replace")))
        return tuple(readings)

    def knows(self, word: str) -> bool:
        """Is ``word`` a form the tagger lists (as written, or in lower case when capitalised)?"""
        return bool(self.lookup(word) or (word[:1].isupper() and self.lookup(word.lower())))

    def tags(self, word: str) -> set[str]:
        return {tag for _, tag in self.lookup(word)} | (
            {tag for _, tag in self.lookup(word.lower())} if word[:1].isupper() else set())


@functools.lru_cache(maxsize=4)
def load_tag_dictionary(path: str) -> TagDictionary:
    return TagDictionary(Path(path).read_bytes())


def tag_dictionary_for(hunspell_dir: str | None) -> TagDictionary | None:
    """The tagger dictionary beside the Hunspell folder of the same rule data (``../dictionaries``)."""
    if not hunspell_dir:
        return None
    path = Path(hunspell_dir).parent / "dictionaries" / "swedish.dict"
    try:
        return load_tag_dictionary(str(path)) if path.is_file() else None
    except (ValueError, IndexError):
        return None
