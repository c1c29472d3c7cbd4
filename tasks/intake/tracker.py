"""The tracker: partner × piece -> received / rejected / over length / review findings, and
each piece's due date, "försenad" when it is past and the piece (or a commissioned
partner's part) is missing.

``status.json`` is the data; ``status.html`` a colour-coded grid a coordinator reads at
a glance; :func:`tracker_table` the same as rows for the command line and Prefect. File
names are shown as given by ``shown`` (personal data masked, :mod:`tasks.personal.filenames`).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date

from tasks.core.config import Config
from tasks.core.slots import slot_key
from tasks.core.templating import html_env, stockholm_today, swedish_date, swedish_datetime
from tasks.intake.inbox import InboxFile, rejection_key, shown_reason
from tasks.intake.normalise import Report, accessibility_summary, over_length
from tasks.storage.base import Storage

STATE_SV = {
    "received": "mottagen",
    "over_length": "för lång",
    "rejected": "avvisad",
    "review_pending": "granskning väntar",
    "missing": "saknas",
}


def file_ref(key: str, etag: str) -> str:
    """Which inbox file, as version ``etag`` of ``key``, a row of the tracker is about, without
    the key itself (the tracker shows keys masked): the partner's page finds each of their
    files' verdict by it. The change token makes it unguessable from a masked key."""
    return hashlib.sha256(f"{key}\0{etag}".encode("utf-8")).hexdigest()[:32]


def build_tracker(files: list[InboxFile], reports: dict[str, Report], config: Config,
                  reviews: dict[str, dict] | None = None, generated: float | None = None,
                  feedback_open: dict[str, int] | None = None, personal: dict[str, dict] | None = None,
                  shown: dict[str, str] | None = None, today: date | None = None) -> dict:
    """The tracker as data. ``reviews`` maps slot keys to review summaries (may be absent);
    ``feedback_open`` slot keys to the number of open points from external reviewers;
    ``personal`` slot keys to the personal data found (kinds and counts, never values);
    ``shown`` inbox keys to the keys as shown to others (default: as they are); ``today``
    decides what is late (default: the day of ``generated`` in Stockholm)."""
    reviews = reviews or {}
    personal = personal or {}
    feedback_open = feedback_open or {}
    shown = shown or {}
    generated = generated or time.time()
    today = today or stockholm_today(generated)
    etags = {f.key: f.etag for f in files}
    cells: dict[str, dict] = {}
    for key, r in reports.items():
        pages = over_length(r)
        review = reviews.get(key)
        cells[key] = {
            "partner": r.partner, "piece": r.piece,
            "state": "over_length" if pages else "received",
            "title": r.title, "words": r.words, "version": r.version, "source": shown.get(r.source, r.source),
            "ref": file_ref(r.source, etags.get(r.source, "")),
            "pages": round(r.words / config.settings.limits.words_per_page, 1),
            "review": review,
            "feedback_open": feedback_open.get(key, 0),
            "personal": personal.get(key),
            "accessibility": accessibility_summary(r),
        }
    rejected = []
    for f in files:
        if f.verdict != "rejected":
            continue
        key = shown.get(f.key, f.key)
        reason = shown_reason(f, shown.get(f.key))
        rejected.append({"key": key, "ref": file_ref(f.key, f.etag), "partner": f.partner, "folder": key.split("/", 1)[0] if f.folder else None,
                         "piece": f.piece, "reason": reason, "reason_code": f.reason_code,
                         "note": rejection_key(f, shown.get(f.key))})
        if f.partner and f.piece:
            cell = cells.setdefault(slot_key(f.partner, f.piece),
                                    {"partner": f.partner, "piece": f.piece, "state": "rejected", "review": None})
            cell.setdefault("rejected", []).append({"file": key.rsplit("/", 1)[-1], "reason": reason})
    superseded = [{"key": shown.get(f.key, f.key), "ref": file_ref(f.key, f.etag), "partner": f.partner, "piece": f.piece, "version": f.version}
                  for f in files if f.verdict == "superseded"]
    pieces = []
    for paket in config.outline.paket:
        for piece in paket.pieces:
            delivered = [p.slug for p in config.registry.partners
                         if cells.get(slot_key(p.slug, piece.id), {}).get("state") in ("received", "over_length")]
            commissioned = list(config.outline.commissioned(piece.id))
            missing_from = [slug for slug in commissioned if slug not in delivered]
            due = config.outline.due(piece.id)
            overdue = bool(due and today > due)
            pieces.append({"id": piece.id, "title": piece.title, "paket": paket.number,
                           "status": "received" if delivered else "missing", "partners": delivered,
                           "commissioned": commissioned, "missing_from": missing_from,
                           "due": due.isoformat() if due else None, "due_sv": swedish_date(due) if due else None,
                           "late": overdue and (bool(missing_from) if commissioned else not delivered)})
    return {
        "generated": generated,
        "today": today.isoformat(),
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
        "late": [p["id"] for p in pieces if p["late"]],
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
            if (review.get("readability") or {}).get("lix") is not None:
                label += f", LIX {review['readability']['lix']:.0f}"
    if cell.get("personal"):
        n = cell["personal"]["total"]
        label += f", {n} personuppgift" if n == 1 else f", {n} personuppgifter"
    images = len((cell.get("accessibility") or {}).get("images_without_alt", []))
    if images:
        label += f", {images} bild utan beskrivning" if images == 1 else f", {images} bilder utan beskrivning"
    if cell.get("feedback_open"):
        n = cell["feedback_open"]
        label += f", {n} öppen granskningspunkt" if n == 1 else f", {n} öppna granskningspunkter"
    return label


def due_label(piece: dict) -> str:
    """``30 juni 2026``, ``30 juni 2026, försenad`` (Myrorna, Verdandi when commissioned
    partners are missing), or "–" without a date."""
    if not piece.get("due_sv"):
        return "–"
    return piece["due_sv"] + (", försenad" if piece.get("late") else "")


def tracker_table(tracker: dict) -> list[list[str]]:
    """One row per piece: id, title, partners who delivered, status and notes, due date."""
    names = {p["slug"]: p["short"] for p in tracker["partners"]}
    rows = [["Nr", "Delrapport", "Inlämnat av", "Status", "Senast", "LIX"]]
    for piece in tracker["pieces"]:
        notes, lix = [], []
        for key, cell in tracker["cells"].items():
            if cell["piece"] == piece["id"]:
                notes.append(f"{names[cell['partner']]}: {cell_label(cell)}")
                figures = (cell.get("review") or {}).get("readability") or {}
                if figures.get("lix") is not None:
                    lix.append(f"{names[cell['partner']]} {figures['lix']:.0f} ({figures['level']})")
        notes += [f"{names.get(slug, slug)}: {STATE_SV['missing']}" for slug in piece.get("missing_from", [])
                  if slug not in piece["partners"] and f"{slug}/{piece['id']}" not in tracker["cells"]]
        rows.append([piece["id"], piece["title"], ", ".join(names[s] for s in piece["partners"]) or "–",
                     "; ".join(sorted(notes)) or STATE_SV["missing"], due_label(piece), "; ".join(sorted(lix)) or "–"])
    return rows


def readability_rows(tracker: dict) -> list[dict]:
    """Each reviewed report's readability: piece, partner, LIX and its reading, sentence
    length, passive share, long sentences (in outline order)."""
    names = {p["slug"]: p["short"] for p in tracker["partners"]}
    rows = []
    for cell in sorted(tracker["cells"].values(), key=lambda c: (c["piece"], c["partner"])):
        figures = (cell.get("review") or {}).get("readability")
        if figures and figures.get("lix") is not None:
            share = figures.get("passive_share")
            rows.append({"Delrapport": cell["piece"], "Partner": names.get(cell["partner"], cell["partner"]),
                         "LIX": figures["lix"], "Läsbarhet": figures["level"],
                         "Ord per mening": figures["average_sentence_words"],
                         "Passiv form": "–" if share is None else f"{round(100 * share)} %",
                         "Långa meningar": figures.get("long_sentences", 0)})
    return rows


def write_tracker(out: Storage, tracker: dict, config: Config) -> None:
    """Write ``status.json`` and ``status.html``."""
    out.write("status.json", json.dumps(tracker, ensure_ascii=False).encode("utf-8"), "application/json")
    out.write("status.html", render_tracker_html(tracker, config, out).encode("utf-8"), "text/html; charset=utf-8")


def render_tracker_html(tracker: dict, config: Config, out: Storage) -> str:
    template = html_env(config.templates).get_template("status.html.j2")
    grid = []
    for partner in tracker["partners"]:
        row = []
        for piece in tracker["pieces"]:
            cell = tracker["cells"].get(slot_key(partner["slug"], piece["id"]))
            expected = not cell and partner["slug"] in piece.get("missing_from", [])
            label = ("försenad" if piece.get("late") else STATE_SV["missing"]) if expected else cell_label(cell)
            row.append({"cell": cell, "label": label, "expected": expected})
        grid.append({"partner": partner, "cells": row})
    links = {r["key"]: out.href(r["note"], from_key="status.html") for r in tracker["rejected"]}
    review_links = {key: out.href(cell["review"]["html"], from_key="status.html")
                    for key, cell in tracker["cells"].items() if (cell.get("review") or {}).get("html")}
    return template.render(tracker=tracker, grid=grid, outline=config.outline,
                           generated=swedish_datetime(tracker["generated"]), rejected_links=links,
                           review_links=review_links,
                           personal_action=config.settings.personal_action,
                           readability=readability_rows(tracker),
                           flagged=sorted((c for c in tracker["cells"].values() if c.get("personal")),
                                          key=lambda c: (c["piece"], c["partner"])),
                           partner_names={p["slug"]: p["short"] for p in tracker["partners"]})
