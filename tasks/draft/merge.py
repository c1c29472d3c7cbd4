"""Merge: one section per work package, reports in outline order, and the pieces the draft
is joined from.

Each contribution is attributed to its partner (heading and a line with organisation,
version and date); several partners may deliver the same piece. Pieces nobody has
delivered are marked as missing in the text.

The draft is not rendered whole. Each report (its masked text) and each paket's *frame*
(the paket, piece and partner headings, the attribution lines, the pieces nobody
delivered, with a place for each report) is rendered on its own, in batches
(``tasks/core/lua/parts.lua``), into a *piece* per format kept under ``cache/draft/``
and named after what it was made from: ``word`` (Word markup with what it refers to,
:mod:`tasks.draft.wordjoin`; the Markdown; the paragraphs of the text record), ``html``
and ``typst``. A piece is rendered again only when its report's masked text, its place
(partner and piece), the frame's text, the masking rules or the way pieces are rendered
change, so a build after one report changed renders that report. :mod:`tasks.draft.render`
joins the pieces into the draft, and ``sections/paket-<n>.md`` is the frame's Markdown with
the reports' Markdown in their places, written again when one of them changed.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from tasks import __version__
from tasks.core import jsonfast
from tasks.core.config import Config, Paket
from tasks.core.errors import UtkastError
from tasks.core.pandoc import one_document_rts, pandoc_version, run_lua, script_digest
from tasks.core.parallel import interleaved, workers
from tasks.core.templating import markdown_env, swedish_date
from tasks.draft.wordjoin import reference_styles, split_units
from tasks.intake.normalise import Report
from tasks.personal.detect import detect, mask_text
from tasks.personal.mask import mask_ast
from tasks.personal.rules import load_rules
from tasks.personal.scan import masked_ast_key
from tasks.storage.base import Storage, read_all, scratch_dir, write_all


def section_key(number: int) -> str:
    return f"sections/paket-{number}.md"


def section_context(paket: Paket, reports: list[Report], config: Config) -> dict:
    """What ``templates/section.md.j2`` needs for one paket."""
    order = {p.slug: i for i, p in enumerate(config.registry.partners)}
    pieces = []
    for piece in paket.pieces:
        delivered = sorted((r for r in reports if r.piece == piece.id), key=lambda r: order[r.partner])
        pieces.append({
            "id": piece.id,
            "title": piece.title,
            "reports": [{
                "partner_short": config.registry.by_slug(r.partner).short,
                "partner_name": config.registry.by_slug(r.partner).name,
                "title": r.title,
                "version": r.version,
                "received": swedish_date(r.received),
                "md_key": r.md_key,
                "report": r,
            } for r in delivered],
        })
    return {"paket": paket, "pieces": pieces}


def selected_paket(config: Config, packages: list[int] | None) -> list[Paket]:
    if not packages:
        return list(config.outline.paket)
    known = {p.number for p in config.outline.paket}
    unknown = sorted(set(packages) - known)
    if unknown:
        raise UtkastError(f"unknown paket {unknown}; the outline has {sorted(known)}")
    return [p for p in config.outline.paket if p.number in packages]


SECTIONS_INDEX = "sections/index.json"
PIECES = "cache/draft"
# At most this many units in one pandoc process: its Word document holds them all at once.
BATCH = 120
# The kinds of piece a unit has: always "word" (it also holds the Markdown and the text
# record's paragraphs); html and typst when a draft in those formats is made.
FOR_FORMAT = {"html": "html", "pdf": "typst"}


def piece_kinds(formats) -> list[str]:
    return ["word", *(FOR_FORMAT[f] for f in formats if f in FOR_FORMAT)]


def piece_key(unit: str, kind: str) -> str:
    """Where a unit's piece of ``kind`` is kept (``unit``: what it was made from)."""
    return f"{PIECES}/{unit[:40]}.{kind}.json"


@dataclass
class Section:
    """One paket of the draft: its frame and its reports in the frame's order, as units
    (what each was made from: see :func:`piece_key`)."""

    number: int
    key: str  # the section: its frame and reports
    frame: str
    reports: list[str] = field(default_factory=list)

    @property
    def units(self) -> list[str]:
        return [self.frame, *self.reports]


@cache
def _rendering(reference_doc: Path) -> str:
    """How pieces are rendered: pandoc, the script, the Word styles and utkast."""
    return hashlib.sha256(f"{pandoc_version()}|{script_digest('parts.lua')}|{__version__}|".encode()
                          + reference_doc.read_bytes()).hexdigest()


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def masked_ast(out: Storage, report: Report, rules) -> bytes:
    """The report's AST with personal data masked: as the intake's scan found it (the AST
    itself when the scan found nothing), else masked now."""
    try:
        return out.read(report.masked_key or masked_ast_key(report, rules))
    except FileNotFoundError:
        return mask_ast(out.read(report.ast_key), rules)[0]


def note_prefix(report: Report) -> str:
    """What a report's footnote labels and HTML ids start with: unique in the draft."""
    return f"{report.partner}-{report.piece}-"


def merge_sections(out: Storage, reports: list[Report], config: Config,
                   packages: list[int] | None = None, formats=("docx",)) -> list[Section]:
    """Render the pieces of the selected paket that are missing (for a draft in
    ``formats``) and write ``sections/paket-<n>.md`` where it changed; return the sections
    in outline order.

    Every report's text and title are merged with their personal data masked
    (``tasks/personal/``): ``sections/``, the pieces and everything made from them never hold
    it (changed masking rules render every piece again).
    """
    template = markdown_env(config.templates).get_template("section.md.j2")
    chosen = selected_paket(config, packages)
    made = json.loads(out.read_text(SECTIONS_INDEX) or "{}")
    kinds = piece_kinds(formats)
    reference = config.templates / "reference.docx"
    rendering = _rendering(reference)
    rules = load_rules(config.templates, config.registry)
    # Titles come masked from intake (with the names found in the whole report); mask
    # again here so no title reaches a section unmasked, whoever calls this.
    reports = [replace(r, title=mask_text(r.title, detect(r.title, rules), rules)) for r in reports]
    existing = {e.key for e in out.list(f"{PIECES}/")}
    sections, todo, sources = [], {}, {}
    for paket in chosen:
        context = section_context(paket, [r for r in reports if config.outline.pieces[r.piece].paket == paket.number],
                                  config)
        skeleton = template.render(context)
        mine = [r for piece in context["pieces"] for r in piece["reports"]]
        frame = _digest("frame", paket.number, skeleton, rendering)
        units = [_digest("report", masked_ast_key(r["report"], rules), note_prefix(r["report"]), rendering)
                 for r in mine]
        section = Section(paket.number, _digest(frame, units), frame, units)
        sections.append(section)
        sources[frame] = {"kind": "frame", "number": paket.number, "skeleton": skeleton}
        for unit, r in zip(units, mine):
            sources[unit] = {"kind": "report", "report": r["report"]}
        for unit in section.units:
            if any(piece_key(unit, kind) not in existing for kind in kinds):
                todo[unit] = sources[unit]
    if todo:
        _render_units(out, todo, kinds, config, rules, reference)
    changed = False
    for section in sections:
        entry = made.get(str(section.number))
        if isinstance(entry, dict) and entry.get("key") == section.key and out.exists(section_key(section.number)):
            continue
        words = {u: jsonfast.loads(data) for u, data in zip(section.units, read_all(
            out, [piece_key(u, "word") for u in section.units]))}
        markdown = section_markdown(words[section.frame]["md"], [words[u]["md"] for u in section.reports])
        out.write(section_key(section.number), markdown.encode("utf-8"), "text/markdown; charset=utf-8")
        out.delete(f"sections/paket-{section.number}.json")  # the section's AST, which drafts were once rendered from
        made[str(section.number)] = {"key": section.key, "units": section.units}
        changed = True
    if changed:
        out.write(SECTIONS_INDEX, json.dumps(made, indent=1).encode("utf-8"), "application/json")
    if todo or changed:
        # Pieces nothing refers to any more (a report that changed, a killed run's).
        wanted = {piece_key(u, kind) for entry in made.values() if isinstance(entry, dict)
                  for u in entry.get("units", []) for kind in ("word", "html", "typst")}
        for key in existing | {piece_key(u, k) for u in todo for k in kinds}:
            if key not in wanted:
                out.delete(key)
    return sections


def section_markdown(frame: list[str], reports: list[str]) -> str:
    """``sections/paket-<n>.md``: the frame's Markdown with each report's in its place."""
    if len(frame) != len(reports) + 1:
        raise UtkastError("a paket's frame and its reports do not match")
    blocks = [frame[0].strip("\n")]
    for report, after in zip(reports, frame[1:]):
        blocks += [report.strip("\n"), after.strip("\n")]
    return "\n\n".join(b for b in blocks if b) + "\n"


def _render_units(out: Storage, todo: dict[str, dict], kinds: list[str], config: Config, rules,
                  reference: Path) -> None:
    """Render the ``todo`` units in batches side by side (one pandoc process each) and keep
    their pieces: a batch is read while the one before it renders, and its pieces are
    written as soon as it is done, not held for the others."""
    styles = reference_styles(reference.read_bytes())
    with scratch_dir("utkast-parts-") as tmp, ThreadPoolExecutor(workers()) as pool:
        media = Path(tmp) / "media"
        media.mkdir()
        units, running = sorted(todo), {}
        # As many batches as processes run side by side (or a multiple of that, so the last
        # round keeps them all busy), none larger than BATCH.
        count = workers() * -(-len(units) // (workers() * BATCH))
        for n, batch in enumerate(interleaved(units, count)):
            folder = Path(tmp) / f"batch-{n}"
            spec = _batch_spec(out, folder, batch, todo, rules, media, reference, kinds)
            running[pool.submit(run_lua, "parts.lua", str(folder / "spec.json"), timeout=1800,
                                **one_document_rts([u.get("ast") or u["skeleton"] for u in spec["units"]]))] = \
                (batch, folder, spec)
        for future in as_completed(running):  # each batch is cut up while the others still render
            batch, folder, spec = running[future]
            done = future.result()
            if done.returncode != 0:
                raise UtkastError(f"rendering the draft's parts failed: {done.stderr.strip()[:2000]}")
            write_all(out, _pieces(folder, spec, batch, todo, kinds, styles))


def _batch_spec(out: Storage, folder: Path, batch: list[str], todo: dict[str, dict], rules, media: Path,
                reference: Path, kinds: list[str]) -> dict:
    """Write one batch's inputs and ``spec.json`` for ``parts.lua`` into ``folder``; return the spec."""
    folder.mkdir()
    reports = [u for u in batch if todo[u]["kind"] == "report"]
    with ThreadPoolExecutor(8) as readers:  # side by side: a bucket answers each after a round trip
        asts = dict(zip(reports, readers.map(lambda u: masked_ast(out, todo[u]["report"], rules), reports)))
    units = []
    for i, unit in enumerate(batch):
        source = todo[unit]
        if source["kind"] == "frame":
            path = folder / f"{i}.md"
            path.write_text(source["skeleton"], encoding="utf-8")
            units.append({"kind": "frame", "skeleton": str(path), "number": source["number"]})
            continue
        report, path, ast = source["report"], folder / f"{i}.json", asts[unit]
        path.write_bytes(ast)
        for name in report.images:
            if not (media / name).exists():
                (media / name).write_bytes(out.read(f"normalised/media/{name}"))
        # Nothing masked, no footnote labels to make unique, no image paths to
        # change: the section's Markdown of the report is its normalised Markdown.
        as_normalised = report.masked_key == report.ast_key and not report.images and b'"t":"Note"' not in ast
        if as_normalised:
            source["md"] = out.read(report.md_key).decode("utf-8")
        units.append({"kind": "report", "ast": str(path), "prefix": note_prefix(report),
                      "images": bool(report.images), "md": not as_normalised})
    spec = {"marker": f"UTKAST{hashlib.sha256(str(folder).encode()).hexdigest()[:16]}",
            "media_dir": str(media), "reference_doc": str(reference), "out": str(folder / "result.json"),
            "formats": {"html": "html" in kinds, "typst": "typst" in kinds}, "units": units}
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return spec


def _pieces(folder: Path, spec: dict, batch: list[str], todo: dict[str, dict], kinds: list[str],
            styles: set[str]) -> list[tuple[str, bytes, str]]:
    """The pieces of one rendered batch, as writes (key, bytes, content type)."""
    results = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    words = split_units((folder / "result.json.docx").read_bytes(), spec["marker"],
                        [u["kind"] for u in spec["units"]], styles)
    writes = []
    for unit, source, result, word in zip(batch, spec["units"], results, words):
        frame = source["kind"] == "frame"
        word["md"] = _list(result["md"]) if frame else result.get("md", todo[unit].get("md"))
        if frame:
            word["headings"] = result["headings"]
            if len(word["chunks"]) != int(result["slots"]) + 1:
                raise UtkastError("a paket's frame lost the places of its reports")
        writes.append((piece_key(unit, "word"), jsonfast.dumps(word), "application/json"))
        for kind in kinds[1:]:
            value = _list(result[kind]) if frame else result[kind]
            writes.append((piece_key(unit, kind), jsonfast.dumps(value), "application/json"))
    return writes


def _list(value) -> list:
    """A list from pandoc's JSON (an empty Lua table may come as an object)."""
    return list(value) if isinstance(value, list) else []
