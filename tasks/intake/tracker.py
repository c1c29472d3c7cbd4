"""The tracker: partner × piece -> received / rejected / over length / review findings.

``status.json`` is the data; ``status.html`` a colour-coded grid a coordinator reads at
a glance; :func:`tracker_table` the same as rows for the command line and Prefect.
"""

from __future__ import annotations

import json
import time

from tasks.core.config import Config
from tasks.core.slots import slot_key
from tasks.core.templating import html_env, swedish_datetime
from tasks.intake.inbox import InboxFile, rejection_key
from tasks.intake.normalise import Report, over_length
from tasks.storage.base import Storage

STATE_SV = {
    "received": "mottagen",
    "over_length": "för lång",
    "rejected": "avvisad",
    "review_pending": "granskning väntar",
    "missing": "saknas",
}


def build_tracker(files: list[InboxFile], reports: dict[str, Report], config: Config,
                  reviews: dict[str, dict] | None = None, generated: float | None = None,
                  feedback_open: dict[str, int] | None = None, personal: dict[str, dict] | None = None) -> dict:
    """The tracker as data. ``reviews`` maps slot keys to review summaries (may be absent);
    ``feedback_open`` slot keys to the number of open points from external reviewers;
    ``personal`` slot keys to the personal data found (kinds and counts, never values)."""
    reviews = reviews or {}
    personal = personal or {}
    feedback_open = feedback_open or {}
    cells: dict[str, dict] = {}
    for key, r in reports.items():
        pages = over_length(r)
        review = reviews.get(key)
        cells[key] = {
            "partner": r.partner, "piece": r.piece,
            "state": "over_length" if pages else "received",
            "title": r.title, "words": r.words, "version": r.version, "source": r.source,
            "pages": round(r.words / config.settings.limits.words_per_page, 1),
            "review": review,
            "feedback_open": feedback_open.get(key, 0),
            "personal": personal.get(key),
        }
    rejected = []
    for f in files:
        if f.verdict != "rejected":
            continue
        rejected.append({"key": f.key, "partner": f.partner, "folder": f.folder, "piece": f.piece,
                         "reason": f.reason, "reason_code": f.reason_code, "note": rejection_key(f)})
        if f.partner and f.piece:
            cell = cells.setdefault(slot_key(f.partner, f.piece),
                                    {"partner": f.partner, "piece": f.piece, "state": "rejected", "review": None})
            cell.setdefault("rejected", []).append({"file": f.name, "reason": f.reason})
    superseded = [{"key": f.key, "partner": f.partner, "piece": f.piece, "version": f.version}
                  for f in files if f.verdict == "superseded"]
    pieces = []
    for paket in config.outline.paket:
        for piece in paket.pieces:
            delivered = [p.slug for p in config.registry.partners
                         if cells.get(slot_key(p.slug, piece.id), {}).get("state") in ("received", "over_length")]
            pieces.append({"id": piece.id, "title": piece.title, "paket": paket.number,
                           "status": "received" if delivered else "missing", "partners": delivered})
    return {
        "generated": generated or time.time(),
        "partners": [{"slug": p.slug, "name": p.name, "short": p.short} for p in config.registry.partners],
        "pieces": pieces,
        "cells": cells,
        "rejected": rejected,
        "superseded": superseded,  # older versions of a partner's piece: every file has a verdict here
        "counts": {
            "files": len(files),
            "accepted": sum(f.verdict == "accepted" for f in files),
            "superseded": sum(f.verdict == "superseded" for f in files),
            "rejected": len(rejected),
            "pieces_received": sum(p["status"] == "received" for p in pieces),
            "pieces_total": len(pieces),
        },
        "missing": [p["id"] for p in pieces if p["status"] == "missing"],
    }


def cell_label(cell: dict | None) -> str:
    """Short Swedish text of a tracker cell."""
    if not cell:
        return ""
    label = STATE_SV[cell["state"]]
    review = cell.get("review")
    if review:
        if review.get("pending"):
            label += ", granskning väntar"
        elif "findings" in review:
            label += f", {review['findings']} språkpåpekanden"
    if cell.get("personal"):
        n = cell["personal"]["total"]
        label += f", {n} personuppgift" if n == 1 else f", {n} personuppgifter"
    if cell.get("feedback_open"):
        n = cell["feedback_open"]
        label += f", {n} öppen granskningspunkt" if n == 1 else f", {n} öppna granskningspunkter"
    return label


def tracker_table(tracker: dict) -> list[list[str]]:
    """One row per piece: id, title, partners who delivered, status and notes."""
    names = {p["slug"]: p["short"] for p in tracker["partners"]}
    rows = [["Nr", "Delrapport", "Inlämnat av", "Status"]]
    for piece in tracker["pieces"]:
        notes = []
        for key, cell in tracker["cells"].items():
            if cell["piece"] == piece["id"]:
                notes.append(f"{names[cell['partner']]}: {cell_label(cell)}")
        rows.append([piece["id"], piece["title"], ", ".join(names[s] for s in piece["partners"]) or "–",
                     "; ".join(sorted(notes)) or STATE_SV["missing"]])
    return rows


def write_tracker(out: Storage, tracker: dict, config: Config) -> None:
    """Write ``status.json`` and ``status.html``."""
    out.write("status.json", json.dumps(tracker, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    out.write("status.html", render_tracker_html(tracker, config, out).encode("utf-8"), "text/html; charset=utf-8")


def render_tracker_html(tracker: dict, config: Config, out: Storage) -> str:
    template = html_env(config.templates).get_template("status.html.j2")
    grid = []
    for partner in tracker["partners"]:
        row = []
        for piece in tracker["pieces"]:
            cell = tracker["cells"].get(slot_key(partner["slug"], piece["id"]))
            row.append({"cell": cell, "label": cell_label(cell)})
        grid.append({"partner": partner, "cells": row})
    links = {r["key"]: out.href(r["note"], from_key="status.html") for r in tracker["rejected"]}
    review_links = {key: out.href(cell["review"]["html"], from_key="status.html")
                    for key, cell in tracker["cells"].items() if (cell.get("review") or {}).get("html")}
    return template.render(tracker=tracker, grid=grid, outline=config.outline,
                           generated=swedish_datetime(tracker["generated"]), rejected_links=links,
                           review_links=review_links,
                           personal_action=config.settings.personal_action,
                           flagged=sorted((c for c in tracker["cells"].values() if c.get("personal")),
                                          key=lambda c: (c["piece"], c["partner"])),
                           partner_names={p["slug"]: p["short"] for p in tracker["partners"]})
