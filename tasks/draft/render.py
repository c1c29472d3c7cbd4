"""Render the draft: the opening and the pieces of every paket joined into docx, html and
pdf in a private folder.

The pieces come from :mod:`tasks.draft.merge` (rendered when what they are made from
changed); here only the opening is rendered (title, date, version, table of contents,
front matter: one small pandoc process) and the pieces are joined to it in order (each
paket's frame with its reports in their places): the Word pieces by
:mod:`tasks.draft.wordjoin`, the HTML and Typst pieces in place of a marker paragraph (the
Typst laid out by :mod:`tasks.draft.pdf`).
Nothing is written under ``drafts/<version>/`` here; :mod:`tasks.draft.catalogue` publishes.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core import jsonfast
from tasks.core.config import Config
from tasks.core.errors import UtkastError
from tasks.core.formats import DRAFT_FORMATS
from tasks.core.pandoc import finish_lua, started_lua
from tasks.core.templating import fill, markdown_env, swedish_date, swedish_datetime
from tasks.core.wordtext import read_draft_text, with_owners
from tasks.draft.merge import Section, piece_key, selected_paket
from tasks.draft.pdf import write_pdf
from tasks.draft.wordjoin import join_docx
from tasks.intake.normalise import Report, over_length
from tasks.storage.base import Storage, read_all

TYPST_SHELLS = ("typst", "typst_front", "typst_part")  # tasks.draft.pdf.write_pdf
IMAGE_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
              "svg": "image/svg+xml", "webp": "image/webp", "bmp": "image/bmp"}


@dataclass
class Rendered:
    """A rendered draft in a local folder, not yet published."""

    version: str
    created: float
    files: dict[str, Path]
    problems: dict[str, str] = field(default_factory=dict)
    docx: Path | None = None  # made also when not published: the changes are made from it
    record: list[dict] | None = None  # the draft's text record (paragraphs.json), when known
    front: Path | None = None  # the opening as a Word document of its own
    sections: list[Section] = field(default_factory=list)  # the paket joined after the opening
    words: dict[str, dict] = field(default_factory=dict)  # unit -> its Word piece (tasks.draft.merge)


def word_sequence(sections: list[Section], words: dict[str, dict]) -> list[tuple[dict, int]]:
    """The Word markup of the paket in the draft's order: each frame's chunks with its
    reports between them, as (piece, chunk) pairs for :func:`tasks.draft.wordjoin.join_docx`."""
    sequence = []
    for section in sections:
        frame = words[section.frame]
        sequence.append((frame, 0))
        for k, unit in enumerate(section.reports, start=1):
            sequence += [(words[unit], 0), (frame, k)]
    return sequence


def front_context(reports: list[Report], config: Config, version: str, created: float,
                  packages: list[int] | None, pending_reviews: list[str]) -> dict:
    names = {p.slug: p.short for p in config.registry.partners}
    rows, missing = [], []
    chosen = selected_paket(config, packages)
    for paket in chosen:
        for piece in paket.pieces:
            delivered = [r for r in reports if r.piece == piece.id]
            status = "mottagen" if delivered else "saknas"
            if any(over_length(r) for r in delivered):
                status += ", längre än beställt"
            if not delivered:
                missing.append(piece.id)
            rows.append({"id": piece.id, "title": piece.title, "status": status,
                         "partners": ", ".join(names[r.partner] for r in delivered) or "–"})
    return {
        "outline": config.outline, "version": version, "created": swedish_datetime(created),
        "received_count": sum(1 for row in rows if row["status"] != "saknas"), "piece_count": len(rows),
        "packages": [p.number for p in chosen] if packages else None,
        "rows": rows, "missing": missing, "pending_reviews": pending_reviews,
    }


def render_draft(out: Storage, sections: list[Section], reports: list[Report], config: Config,
                 version: str, created: float, formats: list[str], workdir: Path,
                 packages: list[int] | None = None, pending_reviews: list[str] = ()) -> Rendered:
    """Render the opening and join the ``sections``' pieces into ``workdir``; raise UtkastError
    if docx/html fail. The Word document is always made: the changes are made from it."""
    front = workdir / "front.md"
    context = front_context(reports, config, version, created, packages, list(pending_reviews))
    front.write_text(markdown_env(config.templates).get_template("front.md.j2").render(context), encoding="utf-8")
    frames = [s.frame for s in sections]  # the headings of the page's contents come from them
    words = {u: jsonfast.loads(data) for u, data in zip(frames, read_all(out, [piece_key(u, "word") for u in frames]))}
    shells = {"docx": workdir / "front.docx"}
    if "html" in formats:
        shells["html"] = workdir / "front.html"
    if "pdf" in formats:
        for kind in TYPST_SHELLS:
            shells[kind] = workdir / f"{kind}.typ"
    headings = []
    if "html" in formats:
        for section in sections:
            headings.append(str(workdir / f"headings-{section.number}.json"))
            Path(headings[-1]).write_text(words[section.frame]["headings"], encoding="utf-8")
    marker = f"UTKASTPAKET{secrets.token_hex(12)}"  # where the paket go in the html and typst
    toc_marker = f"UTKASTINNEHALL{secrets.token_hex(12)}"  # where a PDF laid out in parts has its contents
    spec = {
        "front": str(front), "headings": headings, "marker": marker, "toc_marker": toc_marker,
        "meta": {"title": config.outline.title, "subtitle": f"{config.outline.project} – utkast {version}",
                 "date": swedish_date(created), "lang": "sv-SE", "toc-title": "Innehåll"},
        "reference_doc": str(config.templates / "reference.docx"),
        "css": (config.templates / "draft.css").read_text(encoding="utf-8"),
        "outputs": {kind: str(path) for kind, path in shells.items()},
    }
    (workdir / "render.json").write_text(json.dumps(spec), encoding="utf-8")
    with started_lua("render.lua", str(workdir / "render.json")) as opening:
        # Read the reports' pieces while pandoc renders the opening.
        units = [u for s in sections for u in s.reports]
        words.update(zip(units, map(jsonfast.loads, read_all(out, [piece_key(u, "word") for u in units]))))
        media_dir = workdir / "media"
        if "html" in formats or "pdf" in formats:
            media_dir.mkdir(exist_ok=True)
            for name in sorted({n for r in reports for n in r.images}):
                (media_dir / name).write_bytes(out.read(f"normalised/media/{name}"))
        done = finish_lua(opening, timeout=600)
    if done.returncode != 0:
        raise UtkastError(f"rendering the draft failed: {done.stderr.strip()[:2000]}")

    def lay_out_pdf() -> Path:
        shell_texts = {kind: shells[kind].read_text(encoding="utf-8") for kind in TYPST_SHELLS}
        return write_pdf(shell_texts, marker, toc_marker, _in_order(out, sections, "typst"), config.outline.title,
                         workdir)

    with ThreadPoolExecutor(1) as beside:
        # The PDF takes longest, and Typst lays it out in processes of its own: it begins
        # first, and the Word document and the page are joined while it is laid out.
        pdf = beside.submit(lay_out_pdf) if "pdf" in formats else None
        rendered = _join_word(out, sections, words, shells["docx"], config, version, created, workdir)
        if "docx" not in formats:
            del rendered.files["docx"]
        if "html" in formats:
            html = workdir / "utkast.html"
            pieces = "\n".join(p.strip("\n") for p, _ in _in_order(out, sections, "html") if p.strip())
            html.write_text(scrollable_tables(fill(shells["html"].read_text(encoding="utf-8"), f"<p>{marker}</p>",
                                                   pieces)), encoding="utf-8")
            inline_images(html, media_dir)
            rendered.files["html"] = html
        if pdf:
            try:  # a PDF problem must not stop docx/html from publishing
                rendered.files["pdf"] = pdf.result()
            except Exception as exc:
                rendered.problems["pdf"] = f"PDF could not be rendered: {exc}"[:1000]
    return rendered


def _join_word(out: Storage, sections: list[Section], words: dict, front: Path, config: Config, version: str,
               created: float, workdir: Path) -> Rendered:
    """The Word document (made for every draft: the changes are made from it) and the draft's
    text record, as a :class:`Rendered` with the docx among its files."""
    sequence = word_sequence(sections, words)
    names = sorted({n for w in words.values() for n in w["media"]})
    media = dict(zip(names, read_all(out, [f"normalised/media/{name}" for name in names])))
    docx = workdir / "utkast.docx"
    docx.write_bytes(join_docx(front.read_bytes(), sequence, media))
    record = read_draft_text(front.read_bytes(), config)
    for section in sections:
        record += with_owners([p for piece, k in word_sequence([section], words) for p in piece["paragraphs"][k]],
                              config)
    return Rendered(version, created, {"docx": docx}, docx=docx, record=record, front=front, sections=sections,
                    words=words)


def _in_order(out: Storage, sections: list[Section], kind: str) -> list[tuple[str, bool]]:
    """The html or typst pieces in the draft's order: each frame's chunks with its reports
    between, as (text, whether it is a frame's chunk)."""
    units = [u for s in sections for u in s.units]
    pieces = {u: jsonfast.loads(data) for u, data in zip(units, read_all(out, [piece_key(u, kind) for u in units]))}
    found = []
    for section in sections:
        frame = pieces[section.frame]
        found.append((frame[0], True))
        for k, unit in enumerate(section.reports, start=1):
            found += [(pieces[unit], False), (frame[k], True)]
    return found


def scrollable_tables(html: str) -> str:
    """Each table of the page in a region of its own that scrolls sideways and can be reached
    with the keyboard (a wide table on a phone; WCAG 2.1.1), named "Tabell <n>"."""
    count = 0

    def region(m: re.Match) -> str:
        nonlocal count
        count += 1
        return f'<div class="tabell" role="region" tabindex="0" aria-label="Tabell {count}">{m.group(0)}'

    return re.sub(r"<table[\s>]", region, html).replace("</table>", "</table></div>")


def inline_images(html_path: Path, media_dir: Path) -> None:
    """Make the html self-contained: our media become data: URIs (nothing else is referenced)."""
    html = html_path.read_text(encoding="utf-8")

    def data_uri(m: re.Match) -> str:
        name = m.group(1)
        path = media_dir / name
        ext = name.rsplit(".", 1)[-1]
        if not path.exists() or ext not in IMAGE_MIME:
            return 'src=""'
        return f'src="data:{IMAGE_MIME[ext]};base64,{base64.b64encode(path.read_bytes()).decode()}"'

    html = re.sub(r'src="media/([0-9a-f]{40}\.[A-Za-z0-9]+)"', data_uri, html)
    html_path.write_text(html, encoding="utf-8")


def ensure_formats(formats: list[str]) -> list[str]:
    unknown = [f for f in formats if f not in DRAFT_FORMATS]
    if unknown:
        raise UtkastError(f"unknown format(s) {unknown}; choose from {', '.join(DRAFT_FORMATS)}")
    if not formats:
        raise UtkastError("no output format chosen")
    return formats
