"""The text the language review checks: plain paragraphs ("blocks"), never raw markup.

- Word files: the paragraphs of the partner's own document (see :mod:`tasks.review.comments`),
  so a finding maps straight back to the runs it is about.
- Markdown and plain text: read from the partner's file itself, because pandoc folds
  spaces and a doubled space is one of the things the review must find. Markdown syntax
  (headings, list markers, emphasis, links, tables, footnotes, code) is removed here;
  the spacing and punctuation the partner typed are kept.
- ODT: the paragraphs of ``content.xml`` (ODF keeps extra spaces as ``text:s``).
- HTML, RTF: the normalised Markdown read by pandoc into its document tree.

URLs, e-mail addresses and code are kept in the text but *masked* when checking: they
are replaced by digits of the same length, which the Swedish rules leave alone (and which
cost nothing, while an unknown token makes the speller search for suggestions).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from dataclasses import dataclass, field

from tasks.core.errors import UtkastError
from tasks.core.pandoc import pandoc_path
from tasks.intake.screening import SAFE_XML

MASK_CHAR = "0"
SEPARATOR = "\n\n"  # between blocks in the checked text of a whole document


@dataclass
class Block:
    """One paragraph-like piece of text: a heading, paragraph, list item or table cell."""

    text: str
    kind: str = "para"  # heading | para | item | cell
    level: int = 0
    line: int | None = None  # first line in the source file (Markdown/plain text)
    breaks: list[int] = field(default_factory=list)  # offsets where a new source line starts
    masked: list[tuple[int, int]] = field(default_factory=list)  # (start, end) not checked

    def checked_text(self) -> str:
        """The text as the checker sees it: masked spans replaced by digits."""
        if not self.masked:
            return self.text
        chars = list(self.text)
        for start, end in self.masked:
            for i in range(start, end):
                if not chars[i].isspace() or (start < i < end - 1):
                    chars[i] = MASK_CHAR
        return "".join(chars)

    def line_of(self, offset: int) -> int | None:
        if self.line is None:
            return None
        return self.line + sum(1 for b in self.breaks if b <= offset)


# --- inline text with a map back to the source -----------------------------------------------

URL = re.compile(r"""(?:https?://|www\.)[^\s<>"'`]+""", re.I)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
TRAILING_PUNCT = ".,;:!?)]}'\""


class _Builder:
    """Collects output characters, remembering for each the source position and masking."""

    def __init__(self):
        self.chars: list[str] = []
        self.src: list[int] = []
        self.mask: list[bool] = []
        self.skip_space_at: int | None = None

    def add(self, text: str, pos: int, masked: bool = False, step: int = 1) -> None:
        n = len(text)
        self.chars.extend(text)
        self.src.extend(range(pos, pos + n * step, step) if step else [pos] * n)
        self.mask.extend([masked] * n)

    def dropped(self, next_pos: int, source: str) -> None:
        """Something was removed: avoid leaving two spaces where it was."""
        before = self.chars[-1] if self.chars else " "
        if before == " " and next_pos < len(source) and source[next_pos] == " ":
            self.skip_space_at = next_pos

    def block(self, kind="para", level=0, line=None, breaks_src=()) -> Block:
        text = "".join(self.chars)
        # Trim, keeping the maps in step.
        start, end = 0, len(text)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        text, src, mask = text[start:end], self.src[start:end], self.mask[start:end]
        masked, i = [], 0
        while i < len(mask):
            if mask[i]:
                j = i
                while j < len(mask) and mask[j]:
                    j += 1
                masked.append((i, j))
                i = j
            else:
                i += 1
        breaks = sorted({_first_at_or_after(src, b) for b in breaks_src} - {0, len(text)})
        return Block(text, kind, level, line, breaks, masked)


def _first_at_or_after(src: list[int], pos: int) -> int:
    import bisect

    return bisect.bisect_left(src, pos)


INLINE = re.compile(
    r"(?P<code>(?P<ticks>`+)(?P<codetext>.+?)(?P=ticks))"
    r"|(?P<image>!\[(?P<alt>[^\]]*)\]\([^)]*\))"
    r"|(?P<footref>\[\^[^\]\s]+\])"
    r"|(?P<link>\[(?P<linktext>[^\]]*)\](?:\((?P<target>[^)\s]*)(?:\s+\"[^\"]*\")?\)|\[[^\]]*\]))"
    r"|(?P<autolink><(?P<autotarget>(?:https?://|mailto:)[^>\s]+|[\w.+-]+@[\w.-]+)>)"
    r"|(?P<url>" + URL.pattern + r")"
    r"|(?P<email>" + EMAIL.pattern + r")"
    r"|(?P<shortcode>\{\{[<%].*?[%>]\}\})"  # a site generator's shortcode ({{< callout >}}): not prose
    r"|(?P<tag></?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>)"
    r"|(?P<entity>&(?:#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);)"
    r"|(?P<escape>\\[!-/:-@\[-`{-~])"
    r"|(?P<emph>\*+|_+|~~)",
    re.I,
)


def _inline(source: str, start: int, end: int, out: _Builder) -> None:
    """Append the visible text of ``source[start:end]`` (Markdown inline syntax removed)."""
    pos = start
    for m in INLINE.finditer(source, start, end):
        if m.start() < pos:
            continue
        _plain(source, pos, m.start(), out)
        pos = m.end()
        kind = m.lastgroup  # the outermost group of the alternative that matched
        if kind == "code":
            out.add(m.group("codetext"), m.start("codetext"), masked=True)
        elif kind == "image":
            if m.group("alt").strip():
                _inline(source, m.start("alt"), m.end("alt"), out)
            else:
                out.dropped(pos, source)
        elif kind == "footref":
            out.dropped(pos, source)
        elif kind == "link":
            text = m.group("linktext")
            if URL.fullmatch(text) or EMAIL.fullmatch(text):
                out.add(text, m.start("linktext"), masked=True)
            else:
                _inline(source, m.start("linktext"), m.end("linktext"), out)
        elif kind == "autolink":
            out.add(m.group("autotarget"), m.start("autotarget"), masked=True)
        elif kind in ("url", "email"):
            text = m.group(0)
            trimmed = text.rstrip(TRAILING_PUNCT)
            out.add(trimmed, m.start(), masked=True)
            pos = m.start() + len(trimmed)
        elif kind in ("tag", "shortcode"):
            out.dropped(pos, source)
        elif kind == "entity":
            out.add(html.unescape(m.group(0)), m.start())
        elif kind == "escape":
            out.add(m.group(0)[1], m.start() + 1)
        elif kind == "emph":
            if not _is_markup(source, m.start(), m.end()):
                out.add(m.group(0), m.start())
    _plain(source, pos, end, out)


def _plain(source: str, start: int, end: int, out: _Builder) -> None:
    for i in range(start, end):
        if out.skip_space_at == i:
            out.skip_space_at = None
            continue
        out.add(source[i], i)


def _is_markup(source: str, start: int, end: int) -> bool:
    """Is this run of ``*``/``_``/``~~`` emphasis syntax (flanking a word), not a literal?"""
    before = source[start - 1] if start > 0 else " "
    after = source[end] if end < len(source) else " "
    left = not after.isspace() and (before.isspace() or not before.isalnum())
    right = not before.isspace() and (after.isspace() or not after.isalnum())
    if source[start] == "_" and before.isalnum() and after.isalnum():
        return False  # snake_case inside a word
    if source[start] == "*" and before.isalnum() and after.isalnum():
        return True  # intra-word emphasis
    return left or right


def _mask_only(source: str, start: int, end: int, out: _Builder) -> None:
    """Plain text: keep every character, mask URLs and e-mail addresses."""
    pos = start
    for m in re.finditer(f"{URL.pattern}|{EMAIL.pattern}", source[start:end], re.I):
        a = start + m.start()
        text = m.group(0).rstrip(TRAILING_PUNCT)
        out.add(source[pos:a], pos)
        out.add(text, a, masked=True)
        pos = a + len(text)
    out.add(source[pos:end], pos)


# --- Markdown and plain text --------------------------------------------------------------------

ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)(.*?)(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
THEMATIC = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ITEM = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-*+•]|\d{1,9}[.)]|[a-zA-Z][.)])[ \t]+(?:\[[ xX]\][ \t]+)?(?P<rest>\S.*)$")
PLAIN_ITEM = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-*•–]|\d{1,3}[.)])[ \t]+(?P<rest>\S.*)$")
QUOTE = re.compile(r"^ {0,3}>[ \t]?")
TABLE_SEP = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")
GRID_BORDER = re.compile(r"^[ \t]*\+[-=:+]+\+[ \t]*$")
LINK_DEF = re.compile(r"^ {0,3}\[[^\]^][^\]]*\]:[ \t]*\S+")
FOOTNOTE_DEF = re.compile(r"^ {0,3}\[\^[^\]]+\]:[ \t]*")


def blocks_from_markdown(source: str, *, markdown: bool = True) -> list[Block]:
    """Blocks of a Markdown (or, with ``markdown=False``, plain-text) file."""
    source = source.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    scan = _LineBlocks(source, markdown)
    i = _front_matter_end(scan.lines) if markdown else 0
    while i < len(scan.lines):
        i = scan.step(i)
    scan.flush()
    return [b for b in scan.blocks if b.text.strip()]


def _front_matter_end(lines: list[str]) -> int:
    """The first line after YAML front matter (0 when there is none)."""
    if lines and lines[0].strip() == "---":
        for j in range(1, len(lines)):
            if lines[j].strip() in ("---", "..."):
                return j + 1
    return 0


class _LineBlocks:
    """One pass over the lines of a Markdown or plain-text file (:func:`blocks_from_markdown`):
    the blocks made so far and the one being collected."""

    def __init__(self, source: str, markdown: bool):
        self.source, self.markdown = source, markdown
        self.lines = source.split("\n")
        self.offsets, pos = [], 0
        for line in self.lines:
            self.offsets.append(pos)
            pos += len(line) + 1
        self.blocks: list[Block] = []
        self.current: list[int] = []  # line numbers (0-based) of the block being collected
        self.current_kind = ["para", 0]
        self.prefix_len: dict[int, int] = {}  # characters of syntax to skip at the start of a line
        self.in_list = False
        self.blank_before = True

    def flush(self) -> None:
        if self.current:
            self.blocks.append(_make_block(self.source, self.lines, self.offsets, self.current, self.prefix_len,
                                           self.current_kind[0], self.current_kind[1], self.markdown))
        self.current = []

    def step(self, i: int) -> int:
        """Take line ``i``; the number of the next line to take."""
        line = self.lines[i]
        if self.markdown:
            after = self._skip_raw(i, line)
            if after is not None:
                return after
        if not line.strip():
            self.flush()
            self.blank_before = True
            return i + 1
        if self.markdown:
            done, skip, view, item = self._markdown_syntax(i, line)
            if done:
                return i + 1
        else:
            skip, view = 0, line
            item = PLAIN_ITEM.match(line)
        self._text(i, skip, view, item)
        return i + 1

    def _skip_raw(self, i: int, line: str) -> int | None:
        """Past a fenced code block or an HTML comment that starts at line ``i``; else None."""
        lines = self.lines
        fence = FENCE.match(line)
        if fence:
            self.flush()
            mark = fence.group(1)[0] * 3
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(mark):
                i += 1
            self.blank_before = True
            return i + 1
        if line.strip().startswith("<!--"):
            self.flush()
            while i < len(lines) and "-->" not in lines[i]:
                i += 1
            return i + 1
        return None

    def _markdown_syntax(self, i: int, line: str) -> tuple[bool, int, str, re.Match | None]:
        """Line ``i`` as Markdown: (whether it was syntax and is done, the characters of quote
        marks to skip, the line without them, a list item's match)."""
        quote = QUOTE.match(line)
        skip = 0
        while quote:
            skip += quote.end()
            quote = QUOTE.match(line[skip:])
        view = line[skip:]
        if skip and not view.strip():
            self.flush()
            return True, skip, view, None
        if self.blank_before and not view[:1].isspace():
            self.in_list = False
        heading = ATX.match(view)
        if heading:
            self.flush()
            self.prefix_len[i] = skip + heading.start(2)
            self.blocks.append(_make_block(self.source, self.lines, self.offsets, [i], self.prefix_len, "heading",
                                           len(heading.group(1)), self.markdown, end_col=skip + heading.end(2)))
            self.in_list, self.blank_before = False, False
            return True, skip, view, None
        if self.current and not self.in_list and SETEXT.match(view) and self.current_kind[0] == "para":
            self.current_kind[:] = ["heading", 1 if view.strip()[0] == "=" else 2]
            self.flush()
            return True, skip, view, None
        if THEMATIC.match(view) or GRID_BORDER.match(view) or TABLE_SEP.match(view) or LINK_DEF.match(view):
            self.flush()
            return True, skip, view, None
        if view.lstrip().startswith("|") or (view.count("|") >= 2 and not self.current):
            self.flush()
            self.blocks.extend(_table_cells(self.source, self.offsets[i] + skip, view, i))
            return True, skip, view, None
        footnote = FOOTNOTE_DEF.match(view)
        if footnote:
            self.flush()
            self.current, self.current_kind[:] = [i], ["para", 0]
            self.prefix_len[i] = skip + footnote.end()
            return True, skip, view, None
        if not self.in_list and self.blank_before and (view.startswith("    ") or view.startswith("\t")):
            self.flush()  # indented code block
            return True, skip, view, None
        return False, skip, view, ITEM.match(view)

    def _text(self, i: int, skip: int, view: str, item: re.Match | None) -> None:
        """Line ``i`` as text: a list item starts a block, other lines join the current one."""
        if item:
            self.flush()
            self.current, self.current_kind[:] = [i], ["item", 0]
            self.prefix_len[i] = skip + item.start("rest")
            self.in_list, self.blank_before = True, False
            return
        if self.in_list and not self.current and not (view.startswith(" ") or view.startswith("\t")):
            self.in_list = False
        if not self.current:
            self.current_kind[:] = ["para", 0]
        self.current.append(i)
        self.prefix_len.setdefault(i, skip)
        self.blank_before = False


def _make_block(source, lines, offsets, numbers, prefix_len, kind, level, markdown, end_col=None) -> Block:
    """Join the lines of one block: each line trimmed, joined by one space."""
    out = _Builder()
    breaks = []
    for n, number in enumerate(numbers):
        line = lines[number]
        first = prefix_len.get(number, 0)
        last = end_col if end_col is not None else len(line)
        piece = line[first:last]
        lead = len(piece) - len(piece.lstrip())
        piece = piece.strip()
        if markdown and piece.endswith("\\") and n < len(numbers) - 1:
            piece = piece[:-1].rstrip()  # a hard line break
        if not piece:
            continue
        start = offsets[number] + first + lead
        if out.chars:
            out.add(" ", start - 1)
            breaks.append(start)
        if markdown:
            _inline(source, start, start + len(piece), out)
        else:
            _mask_only(source, start, start + len(piece), out)
    return out.block(kind, level, numbers[0] + 1, breaks)


def _table_cells(source: str, base: int, row: str, number: int) -> list[Block]:
    cells, pos = [], 0
    parts = row.split("|")
    for part in parts:
        start = base + pos
        pos += len(part) + 1
        if not part.strip():
            continue
        lead = len(part) - len(part.lstrip())
        out = _Builder()
        _inline(source, start + lead, start + lead + len(part.strip()), out)
        block = out.block("cell", 0, number + 1)
        if block.text:
            cells.append(block)
    return cells


# --- pandoc's document tree (HTML, ODT, RTF via the normalised Markdown) ---------------------

READ_FORMAT = "markdown-smart-raw_html-raw_attribute-raw_tex"


def blocks_from_normalised(markdown: str, timeout: float = 120) -> list[Block]:
    """Blocks of our normalised Markdown, read by pandoc (sandboxed) into its tree."""
    done = subprocess.run([pandoc_path(), "--sandbox", "-f", READ_FORMAT, "-t", "json"],
                          input=markdown.encode("utf-8"), capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise UtkastError(f"pandoc could not read the normalised text: {done.stderr.decode(errors='replace')[:500]}")
    return blocks_from_pandoc(json.loads(done.stdout))


def blocks_from_pandoc(doc: dict) -> list[Block]:
    blocks: list[Block] = []
    _walk_blocks(doc.get("blocks", []), blocks, "para")
    return [b for b in blocks if b.text.strip()]


def _walk_blocks(items: list, blocks: list[Block], kind: str) -> None:
    for block in items:
        t, c = block["t"], block.get("c")
        if t == "Header":
            _emit(blocks, c[2], "heading", c[0])
        elif t in ("Para", "Plain"):
            _emit(blocks, c, kind, 0)
        elif t == "LineBlock":
            inlines = []
            for n, line in enumerate(c):
                if n:
                    inlines.append({"t": "LineBreak"})
                inlines.extend(line)
            _emit(blocks, inlines, kind, 0)
        elif t in ("BulletList", "OrderedList"):
            for item in (c if t == "BulletList" else c[1]):
                first, rest = item[:1], item[1:]
                _walk_blocks(first, blocks, "item")
                _walk_blocks(rest, blocks, "para")
        elif t in ("BlockQuote",):
            _walk_blocks(c, blocks, kind)
        elif t == "Div":
            _walk_blocks(c[1], blocks, kind)
        elif t == "Figure":
            _walk_blocks(c[1][1], blocks, kind)
            _walk_blocks(c[2], blocks, kind)
        elif t == "DefinitionList":
            for term, definitions in c:
                _emit(blocks, term, "para", 0)
                for d in definitions:
                    _walk_blocks(d, blocks, "para")
        elif t == "Table":
            _, caption, _, head, bodies, foot = c
            _walk_blocks(caption[1], blocks, "para")
            rows = head[1] + [r for body in bodies for r in body[2] + body[3]] + foot[1]
            for row in rows:
                for cell in row[1]:
                    _walk_blocks(cell[4], blocks, "cell")
        # CodeBlock, RawBlock, HorizontalRule: nothing to check


def _emit(blocks: list[Block], inlines: list, kind: str, level: int) -> None:
    out = _Builder()
    notes: list[list] = []
    _walk_inlines(inlines, out, notes)
    blocks.append(out.block(kind, level))
    for note in notes:
        _walk_blocks(note, blocks, "para")


def _space(out: _Builder) -> None:
    if out.chars and out.chars[-1] != " ":
        out.add(" ", len(out.chars))


def _walk_inlines(inlines: list, out: _Builder, notes: list, masked: bool = False) -> None:
    for el in inlines:
        t, c = el["t"], el.get("c")
        if t == "Str":
            out.add(c, len(out.chars), masked or bool(URL.match(c) or EMAIL.fullmatch(c)))
        elif t in ("Space", "SoftBreak"):
            _space(out)
        elif t == "LineBreak":
            out.add("\n", len(out.chars))
        elif t in ("Emph", "Strong", "Underline", "Strikeout", "Superscript", "Subscript", "SmallCaps"):
            _walk_inlines(c, out, notes, masked)
        elif t == "Span":
            _walk_inlines(c[1], out, notes, masked)
        elif t == "Quoted":
            mark = "”" if c[0]["t"] == "DoubleQuote" else "’"
            out.add(mark, len(out.chars))
            _walk_inlines(c[1], out, notes, masked)
            out.add(mark, len(out.chars))
        elif t == "Cite":
            _walk_inlines(c[1], out, notes, masked)
        elif t in ("Code", "Math"):
            out.add(c[1], len(out.chars), masked=True)
        elif t == "Link":
            target = c[2][0]
            text = "".join(i.get("c", "") if i["t"] == "Str" else " " for i in c[1])
            _walk_inlines(c[1], out, notes, masked or text.strip() in (target, target.removeprefix("mailto:")))
        elif t == "Image":
            if c[1]:
                _walk_inlines(c[1], out, notes, masked)
        elif t == "Note":
            notes.append(c)
        # RawInline: dropped, as in the draft


def block_texts(doc: dict) -> list[str]:
    """The text of each of :func:`blocks_from_pandoc`'s blocks, without the maps back to the
    source (for the language page: about three times quicker)."""
    texts: list[str] = []
    _text_blocks(doc.get("blocks", []), texts)
    return [t for t in texts if t]


def _text_blocks(items: list, texts: list[str]) -> None:
    """:func:`_walk_blocks`, for the text alone."""
    for block in items:
        t, c = block["t"], block.get("c")
        if t == "Header":
            _text_emit(texts, c[2])
        elif t in ("Para", "Plain"):
            _text_emit(texts, c)
        elif t == "LineBlock":
            _text_emit(texts, [x for n, line in enumerate(c) for x in ([{"t": "LineBreak"}] if n else []) + line])
        elif t in ("BulletList", "OrderedList"):
            for item in (c if t == "BulletList" else c[1]):
                _text_blocks(item, texts)
        elif t == "BlockQuote":
            _text_blocks(c, texts)
        elif t == "Div":
            _text_blocks(c[1], texts)
        elif t == "Figure":
            _text_blocks(c[1][1], texts)
            _text_blocks(c[2], texts)
        elif t == "DefinitionList":
            for term, definitions in c:
                _text_emit(texts, term)
                for d in definitions:
                    _text_blocks(d, texts)
        elif t == "Table":
            _, caption, _, head, bodies, foot = c
            _text_blocks(caption[1], texts)
            for row in head[1] + [r for body in bodies for r in body[2] + body[3]] + foot[1]:
                for cell in row[1]:
                    _text_blocks(cell[4], texts)


def _text_emit(texts: list[str], inlines: list) -> None:
    parts: list[str] = []
    notes: list[list] = []
    _text_inlines(inlines, parts, notes)
    texts.append("".join(parts).strip())
    for note in notes:
        _text_blocks(note, texts)


def _text_inlines(inlines: list, parts: list[str], notes: list) -> None:
    """:func:`_walk_inlines`, for the text alone (``parts`` holds no empty string)."""
    for el in inlines:
        t, c = el["t"], el.get("c")
        if t == "Str":
            if c:
                parts.append(c)
        elif t in ("Space", "SoftBreak"):
            if parts and parts[-1][-1] != " ":
                parts.append(" ")
        elif t == "LineBreak":
            parts.append("\n")
        elif t in ("Emph", "Strong", "Underline", "Strikeout", "Superscript", "Subscript", "SmallCaps"):
            _text_inlines(c, parts, notes)
        elif t in ("Span", "Cite", "Link"):
            _text_inlines(c[1], parts, notes)
        elif t == "Quoted":
            mark = "”" if c[0]["t"] == "DoubleQuote" else "’"
            parts.append(mark)
            _text_inlines(c[1], parts, notes)
            parts.append(mark)
        elif t in ("Code", "Math"):
            if c[1]:
                parts.append(c[1])
        elif t == "Image":
            if c[1]:
                _text_inlines(c[1], parts, notes)
        elif t == "Note":
            notes.append(c)


# --- OpenDocument text (spacing is kept: pandoc would fold it) ------------------------------------

ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
ODF_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
ODF_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
ODF_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
_T = "{%s}" % ODF_TEXT
# Content that is not part of the paragraph's running text.
ODF_SKIP = {_T + "note", _T + "tracked-changes", _T + "table-of-content", _T + "p", _T + "h", _T + "list",
            "{%s}annotation" % ODF_OFFICE, "{%s}frame" % ODF_DRAW}
ODF_SKIP_ANCESTORS = {_T + "tracked-changes", _T + "table-of-content", "{%s}annotation" % ODF_OFFICE,
                      "{%s}frame" % ODF_DRAW}


def blocks_from_odt(data: bytes) -> list[Block]:
    """Blocks of an ODT file's ``content.xml``: headings, paragraphs, list items, cells, notes.

    ODF folds runs of whitespace in the XML to one space and stores real extra spaces as
    ``text:s``; both are honoured here. Deleted tracked changes and comments are left out.
    """
    import io
    import zipfile

    from lxml import etree


    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        root = etree.fromstring(archive.read("content.xml"), SAFE_XML)
    body = root.find(f"{{{ODF_OFFICE}}}body/{{{ODF_OFFICE}}}text")
    blocks = []
    if body is None:
        return blocks
    for el in body.iter(_T + "p", _T + "h"):
        ancestors = {a.tag for a in el.iterancestors()}
        if ancestors & ODF_SKIP_ANCESTORS:
            continue
        pieces: list[tuple[str, bool]] = []
        _odf_pieces(el, pieces)
        text = _odf_join(pieces)
        if not text.strip():
            continue
        out = _Builder()
        _mask_only(text, 0, len(text), out)
        if el.tag == _T + "h":
            kind, level = "heading", int(el.get(_T + "outline-level", "1") or 1)
        elif "{%s}table-cell" % ODF_TABLE in ancestors:
            kind, level = "cell", 0
        elif _T + "list-item" in ancestors:
            kind, level = "item", 0
        else:
            kind, level = "para", 0
        blocks.append(out.block(kind, level))
    return blocks


def _odf_pieces(el, pieces: list[tuple[str, bool]]) -> None:
    """(text, literal) pieces of one paragraph; literal text is not whitespace-folded."""
    if el.text:
        pieces.append((el.text, False))
    for child in el:
        tag = child.tag
        if tag == _T + "s":
            pieces.append((" " * int(child.get(_T + "c", "1") or 1), True))
        elif tag == _T + "tab":
            pieces.append(("\t", True))
        elif tag == _T + "line-break":
            pieces.append(("\n", True))
        elif tag not in ODF_SKIP:
            _odf_pieces(child, pieces)
        if child.tail:
            pieces.append((child.tail, False))


def _odf_join(pieces: list[tuple[str, bool]]) -> str:
    """Fold whitespace as ODF does: a run in the XML text is one space (across elements)."""
    out: list[str] = []
    folded_space = False  # the text so far ends with a folded (not a literal) space
    for text, literal in pieces:
        if literal:
            out.append(text)
            folded_space = False
            continue
        folded = re.sub(r"[ \t\r\n]+", " ", text)
        if folded_space and folded.startswith(" "):
            folded = folded[1:]
        if folded:
            out.append(folded)
            folded_space = folded.endswith(" ")
    return "".join(out).strip()


def finding_context(block: Block, start: int, end: int, sentence: str) -> dict:
    """The sentence the finding is in (as the checker split it), else the words around it."""
    checked = block.checked_text()
    sentence = sentence.strip()
    if sentence:
        pos = checked.find(sentence)
        while pos != -1:
            if pos <= start and end <= pos + len(sentence):
                return {"text": block.text[pos:pos + len(sentence)], "offset": start - pos,
                        "length": end - start, "sentence": True}
            pos = checked.find(sentence, pos + 1)
    left = max(0, start - 60)
    right = min(len(block.text), end + 60)
    while left > 0 and not block.text[left - 1].isspace() and start - left < 80:
        left -= 1
    while right < len(block.text) and not block.text[right].isspace() and right - end < 80:
        right += 1
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(block.text) else ""
    return {"text": prefix + block.text[left:right] + suffix, "offset": len(prefix) + start - left,
            "length": end - start, "sentence": False}
