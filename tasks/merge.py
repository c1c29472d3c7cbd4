"""Merge: one Markdown section per work package, reports in outline order.

Each contribution is attributed to its partner (heading and a line with organisation,
version and date); several partners may deliver the same piece. Pieces nobody has
delivered are marked as missing in the text.
"""

from __future__ import annotations

import json
from pathlib import Path

from tasks.config import Config, Paket
from tasks.errors import UtkastError
from tasks.normalise import Report
from tasks.pandoc import run_lua
from tasks.storage import Storage, scratch_dir
from tasks.templating import markdown_env, swedish_date


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
                   packages: list[int] | None = None) -> list[str]:
    """Write ``sections/paket-<n>.md`` for the selected paket; return their keys in order."""
    env = markdown_env(config.templates)
    template = env.get_template("section.md.j2")
    chosen = selected_paket(config, packages)
    with scratch_dir("utkast-merge-") as tmp:
        tmp = Path(tmp)
        local_reports, sections = {}, []
        for r in reports:
            path = tmp / f"report-{len(local_reports)}.md"
            path.write_bytes(out.read(r.md_key))
            local_reports[r.md_key] = str(path)
        for paket in chosen:
            skeleton = tmp / f"skeleton-{paket.number}.md"
            skeleton.write_text(template.render(section_context(paket, reports, config)), encoding="utf-8")
            sections.append({"skeleton": str(skeleton), "out": str(tmp / f"paket-{paket.number}.md"),
                             "number": paket.number})
        spec = tmp / "merge.json"
        spec.write_text(json.dumps({"sections": sections, "reports": local_reports}), encoding="utf-8")
        done = run_lua("merge.lua", str(spec), timeout=600)
        if done.returncode != 0:
            raise UtkastError(f"merging the sections failed: {done.stderr.strip()[:2000]}")
        keys = []
        for s in sections:
            key = section_key(s["number"])
            out.write(key, Path(s["out"]).read_bytes(), "text/markdown; charset=utf-8")
            keys.append(key)
    return keys
