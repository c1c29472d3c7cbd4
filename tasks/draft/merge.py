"""Merge: one Markdown section per work package, reports in outline order.

Each contribution is attributed to its partner (heading and a line with organisation,
version and date); several partners may deliver the same piece. Pieces nobody has
delivered are marked as missing in the text.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from tasks.core.config import Config, Paket
from tasks.core.errors import UtkastError
from tasks.core.pandoc import one_document_rts, run_lua
from tasks.core.parallel import workers
from tasks.core.templating import markdown_env, swedish_date
from tasks.intake.normalise import Report
from tasks.personal.detect import detect, mask_text
from tasks.personal.mask import mask_ast
from tasks.personal.rules import load_rules
from tasks.personal.scan import masked_ast_key
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


def masked_ast(out: Storage, report: Report, rules) -> bytes:
    """The report's AST with personal data masked: as the intake's scan kept it, else masked now."""
    try:
        return out.read(masked_ast_key(report, rules))
    except FileNotFoundError:
        return mask_ast(out.read(report.ast_key), rules)[0]


def merge_sections(out: Storage, reports: list[Report], config: Config,
                   packages: list[int] | None = None) -> list[int]:
    """Write ``sections/paket-<n>.md`` (and its AST ``.json``) for the selected paket.

    Returns the paket numbers in outline order. A section whose text and reports are the
    same as when it was last written is kept (``sections/index.json`` remembers what each
    was made from); the others are merged side by side, one pandoc process each. Every
    report's text and title are merged with their personal data masked (``tasks/personal/``):
    ``sections/`` and everything made from it never hold it (changed masking rules merge every
    section again).
    """
    template = markdown_env(config.templates).get_template("section.md.j2")
    chosen = selected_paket(config, packages)
    made = json.loads(out.read_text(SECTIONS_INDEX) or "{}")
    with scratch_dir("utkast-merge-") as tmp:
        tmp = Path(tmp)
        rules = load_rules(config.templates, config.registry)
        # Titles come masked from intake (with the names found in the whole report); mask
        # again here so no title reaches a section unmasked, whoever calls this.
        reports = [replace(r, title=mask_text(r.title, detect(r.title, rules), rules)) for r in reports]
        specs = []
        for paket in chosen:
            mine = [r for r in reports if config.outline.pieces[r.piece].paket == paket.number]
            skeleton = template.render(section_context(paket, mine, config))
            key = hashlib.sha256(json.dumps([skeleton, sorted([r.ast_key, r.converter] for r in mine),
                                             rules.fingerprint]).encode("utf-8")).hexdigest()
            if made.get(str(paket.number)) == key and out.exists(section_ast_key(paket.number)):
                continue
            (tmp / f"skeleton-{paket.number}.md").write_text(skeleton, encoding="utf-8")
            local = {}
            for r in mine:
                local[r.md_key] = str(tmp / f"report-{paket.number}-{len(local)}.json")
                Path(local[r.md_key]).write_bytes(masked_ast(out, r, rules))
            spec = {"skeleton": str(tmp / f"skeleton-{paket.number}.md"),
                    "out_md": str(tmp / f"paket-{paket.number}.md"),
                    "out_json": str(tmp / f"paket-{paket.number}.json"), "reports": local}
            path = tmp / f"merge-{paket.number}.json"
            path.write_text(json.dumps(spec), encoding="utf-8")
            specs.append((paket.number, path, spec, key))
        with ThreadPoolExecutor(workers()) as pool:
            runs = list(pool.map(lambda s: run_lua("merge.lua", str(s[1]), timeout=600,
                                                        **one_document_rts(s[2]["reports"].values())), specs))
        for (number, _, spec, key), done in zip(specs, runs):
            if done.returncode != 0:
                raise UtkastError(f"merging paket {number} failed: {done.stderr.strip()[:2000]}")
            out.write(section_ast_key(number), Path(spec["out_json"]).read_bytes(), "application/json")
            out.write(section_key(number), Path(spec["out_md"]).read_bytes(), "text/markdown; charset=utf-8")
            made[str(number)] = key
    if specs:
        out.write(SECTIONS_INDEX, json.dumps(made, indent=2).encode("utf-8"), "application/json")
    return [p.number for p in chosen]
