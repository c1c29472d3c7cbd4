"""Merge: one section per work package, reports in outline order, and the section rendered
on its own as a part of the draft.

Each contribution is attributed to its partner (heading and a line with organisation,
version and date); several partners may deliver the same piece. Pieces nobody has
delivered are marked as missing in the text.

A paket's section and parts are made again only when what they are made from changed
(``sections/index.json`` remembers it): its reports' masked text, the skeleton, the
masking rules and the way parts are rendered. The parts, under ``cache/draft/``, are the
section as a Word document (with its text record, :func:`tasks.roundtrip.wordtext.read_draft_text`),
an HTML and a Typst fragment and its headings; :mod:`tasks.draft.render` joins them into
the draft, so a build after one report changed renders one paket, not the whole draft.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from tasks import __version__
from tasks.core.config import Config, Paket
from tasks.core.errors import UtkastError
from tasks.core.pandoc import one_document_rts, pandoc_version, run_lua, script_digest
from tasks.core.parallel import workers
from tasks.core.templating import markdown_env, swedish_date
from tasks.draft.wordjoin import number_part
from tasks.intake.normalise import Report
from tasks.personal.detect import detect, mask_text
from tasks.personal.mask import mask_ast
from tasks.personal.rules import load_rules
from tasks.personal.scan import masked_ast_key
from tasks.roundtrip.wordtext import read_draft_text
from tasks.storage.base import Storage, scratch_dir


def section_key(number: int) -> str:
    return f"sections/paket-{number}.md"


def section_ast_key(number: int) -> str:
    """The same section as a pandoc AST, which rendering reads (much faster than Markdown)."""
    return f"sections/paket-{number}.json"


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
PARTS = "cache/draft"
# The parts a paket always gets (the Word part also gives the text record) and those a
# format asks for.
ALWAYS = ("docx", "record", "headings")
FOR_FORMAT = {"html": "html", "pdf": "typst"}
SUFFIX = {"docx": "docx", "record": "record.json", "headings": "headings.json", "html": "html", "typst": "typ"}


@dataclass
class Section:
    """One paket of the draft: its number, what it was made from (``key``) and its parts
    (kind -> storage key: ``docx``, ``record``, ``headings``, ``html``, ``typst``)."""

    number: int
    key: str
    parts: dict[str, str] = field(default_factory=dict)


def part_kinds(formats: list[str]) -> list[str]:
    """The parts each paket needs for a draft in ``formats``."""
    return [*ALWAYS, *(FOR_FORMAT[f] for f in formats if f in FOR_FORMAT)]


def part_key(number: int, key: str, kind: str) -> str:
    return f"{PARTS}/paket-{number}-{key[:24]}.{SUFFIX[kind]}"


@cache
def _render_fingerprint(reference_doc: Path) -> str:
    """How parts are rendered: pandoc, the script, the Word styles and utkast."""
    return hashlib.sha256(f"{pandoc_version()}|{script_digest('paket.lua')}|{__version__}|".encode()
                          + reference_doc.read_bytes()).hexdigest()


def masked_ast(out: Storage, report: Report, rules) -> bytes:
    """The report's AST with personal data masked: as the intake's scan kept it, else masked now."""
    try:
        return out.read(masked_ast_key(report, rules))
    except FileNotFoundError:
        return mask_ast(out.read(report.ast_key), rules)[0]


def _made(entry) -> tuple[str | None, set[str]]:
    """What ``sections/index.json`` says a paket was made from, and which parts it has."""
    if isinstance(entry, dict):
        return entry.get("key"), set(entry.get("parts", []))
    return None, set()  # written before parts existed


def merge_sections(out: Storage, reports: list[Report], config: Config,
                   packages: list[int] | None = None, formats: list[str] = ("docx",)) -> list[Section]:
    """Write ``sections/paket-<n>.md`` (and its AST ``.json``) and the paket's parts for the
    draft's ``formats``, for the selected paket.

    Returns the sections in outline order. A paket whose text, reports and rendering are
    the same as when it was last made is kept (``sections/index.json`` remembers what each
    was made from, and which parts exist); the others are made side by side, one pandoc
    process each. Every report's text and title are merged with their personal data masked
    (``tasks/personal/``): ``sections/`` and everything made from it never hold it (changed
    masking rules merge every section again).
    """
    template = markdown_env(config.templates).get_template("section.md.j2")
    chosen = selected_paket(config, packages)
    made = json.loads(out.read_text(SECTIONS_INDEX) or "{}")
    kinds = part_kinds(list(formats))
    rendering = _render_fingerprint(config.templates / "reference.docx")
    sections, specs = [], []
    with scratch_dir("utkast-merge-") as tmp:
        tmp = Path(tmp)
        rules = load_rules(config.templates, config.registry)
        # Titles come masked from intake (with the names found in the whole report); mask
        # again here so no title reaches a section unmasked, whoever calls this.
        reports = [replace(r, title=mask_text(r.title, detect(r.title, rules), rules)) for r in reports]
        for paket in chosen:
            mine = [r for r in reports if config.outline.pieces[r.piece].paket == paket.number]
            skeleton = template.render(section_context(paket, mine, config))
            key = hashlib.sha256(json.dumps([skeleton, sorted([r.ast_key, r.converter] for r in mine),
                                             rules.fingerprint, rendering]).encode("utf-8")).hexdigest()
            section = Section(paket.number, key, {kind: part_key(paket.number, key, kind) for kind in kinds})
            sections.append(section)
            before, parts = _made(made.get(str(paket.number)))
            if before == key and parts >= set(kinds) and out.exists(section_ast_key(paket.number)) \
                    and all(out.exists(k) for k in section.parts.values()):
                continue
            folder = tmp / f"paket-{paket.number}"
            (folder / "media").mkdir(parents=True)
            (folder / "skeleton.md").write_text(skeleton, encoding="utf-8")
            local = {}
            for r in mine:
                local[r.md_key] = str(folder / f"report-{len(local)}.json")
                Path(local[r.md_key]).write_bytes(masked_ast(out, r, rules))
            for name in sorted({n for r in mine for n in r.images}):
                (folder / "media" / name).write_bytes(out.read(f"normalised/media/{name}"))
            spec = {"number": paket.number, "skeleton": str(folder / "skeleton.md"), "reports": local,
                    "media_dir": str(folder / "media"), "reference_doc": str(config.templates / "reference.docx"),
                    "out": {"json": str(folder / "section.json"), "md": str(folder / "section.md"),
                            **{kind: str(folder / f"part.{SUFFIX[kind]}") for kind in kinds if kind != "record"}}}
            (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
            specs.append((section, folder, spec))
        with ThreadPoolExecutor(workers()) as pool:
            runs = list(pool.map(lambda s: run_lua("paket.lua", str(s[1] / "spec.json"), timeout=600,
                                                   **one_document_rts(s[2]["reports"].values())), specs))
        for (section, folder, spec), done in zip(specs, runs):
            if done.returncode != 0:
                raise UtkastError(f"merging paket {section.number} failed: {done.stderr.strip()[:2000]}")
            docx = number_part(Path(spec["out"]["docx"]).read_bytes(), section.number)
            record = read_draft_text(docx, config)
            files = {"docx": docx, "record": json.dumps(record, ensure_ascii=False).encode("utf-8")}
            for kind in section.parts:
                if kind not in files:
                    files[kind] = Path(spec["out"][kind]).read_bytes()
            for kind, key in section.parts.items():
                out.write(key, files[kind])
            out.write(section_ast_key(section.number), Path(spec["out"]["json"]).read_bytes(), "application/json")
            out.write(section_key(section.number), Path(spec["out"]["md"]).read_bytes(),
                      "text/markdown; charset=utf-8")
            made[str(section.number)] = {"key": section.key, "parts": sorted(section.parts)}
    if specs:
        out.write(SECTIONS_INDEX, json.dumps(made, indent=2).encode("utf-8"), "application/json")
        # Parts a paket was made with before (or a killed run left): nothing refers to them.
        wanted = {part_key(int(n), key, kind) for n, entry in made.items()
                  for key, parts in [_made(entry)] if key for kind in parts}
        for entry in list(out.list(f"{PARTS}/")):
            if entry.key not in wanted:
                out.delete(entry.key)
    return sections
