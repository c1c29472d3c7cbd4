"""Personal data in a report's pandoc AST: found per paragraph, heading, cell and footnote,
and masked in place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tasks.personal.detect import Detector, Match, mask_text
from tasks.personal.filenames import as_words
from tasks.personal.rules import PersonalRules, fold

# --- the report's AST ---------------------------------------------------------------------------------


@dataclass
class Finding:
    """Personal data found in a report. ``value`` is shown only to the partner."""

    kind: str
    value: str
    place: str  # Swedish: "stycke 3", "tabell 1, rad 2, kolumn 1", "fotnot 2", "titeln", "länk i stycke 4"
    context: str = ""  # the paragraph with the value (for the partner)


@dataclass(slots=True)
class _Token:
    node: dict
    parent: list
    text: str
    editable: bool  # Str, Code, Math: its text can be changed


class _Segment:
    """A run of inline text (paragraph, heading, cell, line) and where it is. Its tokens
    (which masking changes) are made when first asked for: most text holds nothing to mask."""

    __slots__ = ("place", "cell", "text", "_tokens", "_inlines")

    def __init__(self, tokens: list[_Token] | None, place: str, cell: tuple[int, int, int] | None = None,
                 text: str | None = None, inlines: list | None = None):
        self.place = place
        self.cell = cell  # (table, row, column) of a body cell
        self._tokens, self._inlines = tokens, inlines
        self.text = "".join(t.text for t in tokens) if text is None else text  # as it was found

    @property
    def tokens(self) -> list[_Token]:
        if self._tokens is None:
            self._tokens = _tokens(self._inlines)
        return self._tokens


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
                notes: list[dict] = []
                self.gather(line, where, notes, [])
                tokens += _tokens(line)
                self.footnotes(notes)
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
        text: list[str] = []
        self.gather(inlines, where, notes, text)
        self.segments.append(_Segment(None, where, cell, "".join(text), inlines))
        self.footnotes(notes)

    def footnotes(self, notes: list[dict]) -> None:
        for note in notes:
            self.notes += 1
            self.blocks(note["c"], f"fotnot {self.notes}")

    def add(self, tokens: list[_Token], place: str | None, cell) -> None:
        self.segments.append(_Segment(tokens, place or self._next_paragraph(), cell))

    def gather(self, inlines: list, place: str, notes: list, text: list[str]) -> None:
        """The text of ``inlines``, their links and footnotes, without making tokens (:func:`_tokens`)."""
        for node in inlines:
            t, c = node.get("t"), node.get("c")
            if t == "Str":
                text.append(c)
            elif t in BREAKS:
                text.append(BREAKS[t])
            elif t in ("Code", "Math", "RawInline"):
                text.append(c[1])
            elif t in WRAPPERS:
                self.gather(c, place, notes, text)
            elif t in SECOND:
                if t == "Link":
                    self.links.append((node, inlines, place))
                self.gather(c[1], place, notes, text)
            elif t == "Note":
                notes.append(node)


def _tokens(inlines: list) -> list[_Token]:
    """The tokens of a run of inlines (their text pieces, in the order :meth:`_Walker.gather` reads them)."""
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
            tokens += _tokens(c)
        elif t in SECOND:
            tokens += _tokens(c[1])
        elif t == "Note":
            tokens.append(_Token(node, inlines, "", False))
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
    finder = Detector.for_rules(rules)
    # Pass 1: names next to marker words and in the name columns of tables.
    names = {m.value for m in finder.names(as_words(title))}  # titles often come from file names
    name_columns = {(table, col) for table, cols in walker.header_columns.items()
                    for col, header in cols if header in rules.column_headers}
    named = [finder.names(seg.text) for seg in walker.segments]  # asked once: pass 2 needs them too
    for seg, found in zip(walker.segments, named):
        text = seg.text
        names.update(m.value for m in found)
        if seg.cell and (seg.cell[0], seg.cell[2]) in name_columns:
            whole = finder.whole_name(text)
            if whole:
                names.add(whole)
    # Pass 2: everything, with every mention of the names known from the whole report.
    detector = Detector.for_rules(rules, names)
    findings: list[Finding] = []
    title_matches = detector.find(as_words(title))
    findings += [Finding(m.kind, m.value, "titeln", title) for m in title_matches]
    for seg, found in zip(walker.segments, named):
        text = seg.text
        matches = detector.find(text, found)
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
    finder = Detector.for_rules(rules)
    names = {m.value for p in paragraphs for m in finder.names(p.get("text") or "")}
    detector = Detector.for_rules(rules, names)
    masked = []
    for p in paragraphs:
        found = detector.find(p.get("text") or "")
        masked.append({**p, "text": mask_text(p["text"], found, rules)} if found else p)
    return masked


