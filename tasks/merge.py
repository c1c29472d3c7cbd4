"""Merge: one Markdown section per work package, reports in outline order.

Each contribution is attributed to its partner (heading and a line with organisation,
version and date); several partners may deliver the same piece. Pieces nobody has
delivered are marked as missing in the text.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tasks.config import Config, Paket
from tasks.errors import UtkastError
from tasks.normalise import Report, workers
from tasks.pandoc import run_lua
from tasks.storage import Storage, scratch_dir
from tasks.templating import markdown_env, swedish_date


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


def merge_sections(out: Storage, reports: list[Report], config: Config,
                   packages: list[int] | None = None) -> list[int]:
    """Write ``sections/paket-<n>.md`` (and its AST ``.json``) for the selected paket.

    Returns the paket numbers in outline order. Sections are merged side by side, one
    pandoc process each.
    """
    env = markdown_env(config.templates)
    template = env.get_template("section.md.j2")
    chosen = selected_paket(config, packages)
    with scratch_dir("utkast-merge-") as tmp:
        tmp = Path(tmp)
        local = {}
        for i, r in enumerate(reports):
            path = tmp / f"report-{i}.json"
            path.write_bytes(out.read(r.ast_key))
            local[r.md_key] = str(path)
        specs = []
        for paket in chosen:
            mine = [r for r in reports if config.outline.pieces[r.piece].paket == paket.number]
            skeleton = tmp / f"skeleton-{paket.number}.md"
            skeleton.write_text(template.render(section_context(paket, mine, config)), encoding="utf-8")
            spec = {"skeleton": str(skeleton), "out_md": str(tmp / f"paket-{paket.number}.md"),
                    "out_json": str(tmp / f"paket-{paket.number}.json"),
                    "reports": {r.md_key: local[r.md_key] for r in mine}}
            path = tmp / f"merge-{paket.number}.json"
            path.write_text(json.dumps(spec), encoding="utf-8")
            specs.append((paket.number, path, spec))
        with ThreadPoolExecutor(workers()) as pool:
            runs = list(pool.map(lambda s: run_lua("merge.lua", str(s[1]), timeout=600), specs))
        for (number, _, spec), done in zip(specs, runs):
            if done.returncode != 0:
                raise UtkastError(f"merging paket {number} failed: {done.stderr.strip()[:2000]}")
            out.write(section_ast_key(number), Path(spec["out_json"]).read_bytes(), "application/json")
            out.write(section_key(number), Path(spec["out_md"]).read_bytes(), "text/markdown; charset=utf-8")
    return [number for number, _, _ in specs]
