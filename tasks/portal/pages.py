"""What the partners' and reviewers' pages show, read from the outputs and the inbox.

A partner's page: their files in the inbox with the verdict of each, and every piece of the
outline with their status (received, rejected with the Swedish reason, missing, the language
review's links, the reviewers' points for them), from ``status.json``, ``review/<slug>/`` and
``feedback.json``. A reviewer's page: the latest draft, its changes since the previous one
(``drafts/<version>/andringar.*``) and the files they handed back. The pages are rendered
here from ``templates/portal/`` (autoescaped); every link on them is relative to the page,
so the personal token never appears in a page.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime

from tasks.core.config import Config
from tasks.core.slots import slot_key
from tasks.core.templating import STOCKHOLM, html_env, stockholm_today, swedish_date, swedish_datetime
from tasks.draft.catalogue import list_versions, read_latest, read_manifest
from tasks.intake.tracker import STATE_SV
from tasks.portal.links import Link
from tasks.portal.uploads import FILE_FIELD, MB, PIECE_FIELD
from tasks.roundtrip.feedback import FOLDER as FEEDBACK_FOLDER
from tasks.roundtrip.points import DATA_KEY as FEEDBACK_KEY
from tasks.roundtrip.points import read_statuses
from tasks.storage.base import Storage, safe_name

FORMAT_SV = {"docx": "Word-fil", "pdf": "PDF", "html": "webbsida"}
REVIEW_FILE = re.compile(r"([1-9]\.[1-9])\.(html|docx)")
DRAFT_FILES = {"utkast.docx", "utkast.pdf", "utkast.html", "andringar.html", "andringar.docx"}
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,80}")
MIME = {"html": "text/html; charset=utf-8", "pdf": "application/pdf",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def _json(store: Storage, key: str) -> dict | None:
    text = store.read_text(key)
    if not text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _when(ts: float) -> str:
    return swedish_datetime(datetime.fromtimestamp(ts, STOCKHOLM))


# --- the partner's page -----------------------------------------------------------------------


def partner_view(inbox: Storage, out: Storage, config: Config, slug: str, today: date | None = None) -> dict:
    """Everything the partner's page shows: their files and their status per piece. Pieces
    they are commissioned for (``commissioned`` in outline.toml) are theirs even before
    they deliver: shown with the due date, and as late ("försenad") after it."""
    today = today or stockholm_today()
    any_commissions = any(config.outline.commissioned(p) for p in config.outline.pieces)
    partner = config.registry.by_slug(slug)
    tracker = _json(out, "status.json") or {}
    cells = {k: c for k, c in (tracker.get("cells") or {}).items() if c.get("partner") == slug}
    rejected = {r["key"]: r for r in tracker.get("rejected", []) if r.get("partner") == slug}
    sources = {c.get("source"): c for c in cells.values() if c.get("source")}
    generated = float(tracker.get("generated") or 0)
    points = _open_points(out, slug)

    files = []
    for folder in dict.fromkeys((slug, *partner.aliases)):
        for entry in inbox.list(f"{folder}/"):
            name = entry.key.rsplit("/", 1)[-1]
            if name.startswith(".") and name.endswith(".tmp"):
                continue  # a write in progress
            if entry.key in sources:
                cell = sources[entry.key]
                state, text = "received", f"mottagen som delrapport {cell['piece']}"
            elif entry.key in rejected:
                state, text = "rejected", f"avvisad: {rejected[entry.key].get('reason') or ''}"
            elif entry.modified > generated:
                state, text = "pending", "mottagen, granskas inom några minuter"
            else:
                state, text = "superseded", "ersatt av en nyare fil för samma delrapport"
            files.append({"name": name, "key": entry.key, "state": state, "text": text,
                          "when": _when(entry.modified), "modified": entry.modified})
    files.sort(key=lambda f: (-f["modified"], f["name"]))

    mine, others = [], []
    for paket in config.outline.paket:
        for piece in paket.pieces:
            cell = cells.get(slot_key(slug, piece.id))
            due = config.outline.due(piece.id)
            item = {"id": piece.id, "title": piece.title, "paket": paket.number,
                    "points": [p for p in points if p.get("piece") == piece.id],
                    "due": swedish_date(due) if due else None}
            if cell is None and not item["points"]:
                ours = slug in config.outline.commissioned(piece.id)
                late = bool(ours and due and due < today)
                item.update(state="missing", state_sv="försenad" if late else STATE_SV["missing"], late=late)
                (mine if ours else others).append(item)
                continue
            cell = cell or {"state": "missing"}
            item.update(state=cell["state"], state_sv=STATE_SV.get(cell["state"], cell["state"]),
                        file=(cell.get("source") or "").rsplit("/", 1)[-1] or None,
                        rejected=cell.get("rejected", []), words=cell.get("words"), pages=cell.get("pages"),
                        personal=cell.get("personal"), accessibility=cell.get("accessibility"))
            review, item["review"] = cell.get("review") or {}, None
            if review.get("pending"):
                item["review"] = {"pending": True}
            elif review.get("html"):
                item["review"] = {"pending": False, "findings": review.get("findings"),
                                  "html": f"granskning/{piece.id}.html", "docx": f"granskning/{piece.id}.docx"}
            mine.append(item)
    unplaced = [r for r in rejected.values() if not r.get("piece")]
    return {
        "partner": {"slug": slug, "name": partner.name, "short": partner.short},
        "files": files, "mine": mine, "others": others, "unplaced": unplaced,
        "others_title": "Andra delrapporter i planen" if any_commissions else "Inte lämnade av er",
        "points_elsewhere": [p for p in points if p.get("piece") not in config.outline.pieces],
        "updated": _when(generated) if generated else None,
        "pieces": [{"id": p.id, "title": p.title} for p in config.outline.pieces.values()],
        "max_mb": config.settings.limits.max_file_bytes // MB,
    }


def _open_points(out: Storage, slug: str) -> list[dict]:
    """The reviewers' points on the partner's text that are not done (open or answered)."""
    data = _json(out, FEEDBACK_KEY)
    if not data:
        return []
    statuses, _ = read_statuses(out)
    found = []
    for p in data.get("points", []):
        if p.get("partner") != slug:
            continue
        status = statuses.get(p.get("id"), {}).get("status", p.get("status", "open"))
        if status == "done":
            continue
        found.append({"piece": p.get("piece"), "kind": p.get("kind_sv") or p.get("kind"),
                      "who": p.get("author") or p.get("reviewer"), "date": p.get("date_sv") or "",
                      "anchor": p.get("anchor") or "", "text": p.get("text") or "",
                      "inserted": p.get("inserted") or "", "deleted": p.get("deleted") or "",
                      "answered": status == "answered", "answer": statuses.get(p.get("id"), {}).get("answer")
                      or p.get("answer")})
    return found


def review_file_key(config: Config, slug: str, filename: str) -> str | None:
    """``review/<slug>/<piece>.html|docx`` for a file name the partner's page links to."""
    m = REVIEW_FILE.fullmatch(filename)
    if not m or m.group(1) not in config.outline.pieces:
        return None
    return f"review/{slug}/{filename}"


# --- the reviewer's page ----------------------------------------------------------------------


def reviewer_view(inbox: Storage, out: Storage, config: Config, link: Link) -> dict:
    """The latest draft, its changes and the files this reviewer handed back."""
    latest = read_latest(out)
    draft = None
    if latest:
        version = latest["version"]
        manifest = read_manifest(out, version) or {}
        changes = _json(out, f"drafts/{version}/andringar.json")
        base = f"utkast/{version}/"
        draft = {
            "version": version, "created": manifest.get("created_sv") or latest.get("created", ""),
            "downloads": [{"format": FORMAT_SV.get(fmt, fmt.upper()), "href": base + f"utkast.{fmt}"}
                          for fmt in latest.get("formats", {}) if f"utkast.{fmt}" in DRAFT_FILES],
            "reports": len(manifest.get("reports", [])), "missing": manifest.get("missing", []),
            "pieces_total": len(config.outline.pieces),
            "changes": _changes(changes, out, version, base),
        }
    folder = f"{FEEDBACK_FOLDER}{safe_name(link.name)}/"
    data = _json(out, FEEDBACK_KEY) or {}
    known = {f["key"]: f for f in data.get("files", []) if f.get("key", "").startswith(folder)}
    files = []
    for entry in inbox.list(folder):
        name = entry.key.rsplit("/", 1)[-1]
        if name.startswith(".") and name.endswith(".tmp"):
            continue
        f = known.get(entry.key)
        if f is None:
            text = "mottagen, läses vid nästa bygge av utkastet"
        elif f.get("verdict") == "rejected":
            text = f"kunde inte läsas: {f.get('reason') or ''}"
        else:
            text = f"läst: {f.get('points', 0)} synpunkter fördelade till partnerna"
        files.append({"name": name, "text": text, "when": _when(entry.modified), "modified": entry.modified})
    files.sort(key=lambda f: (-f["modified"], f["name"]))
    return {"reviewer": link.name, "draft": draft, "files": files, "drafts": len(list_versions(out)),
            "max_mb": config.settings.limits.max_file_bytes // MB}


def _changes(changes: dict | None, out: Storage, version: str, base: str) -> dict | None:
    if not changes:
        return None
    groups = []
    for g in [*changes.get("paket", []), changes.get("other", {})]:
        text = g.get("text") or {}
        lines = list(g.get("lines", []))
        if text.get("paragraphs"):
            lines.append(f"Texten: {text['paragraphs']} stycken ändrade, {text.get('inserted_words', 0)} ord "
                         f"tillagda, {text.get('deleted_words', 0)} borttagna")
        if lines:
            title = f"Paket {g['number']}. {g['title']}" if g.get("number") else g.get("title", "")
            groups.append({"title": title, "lines": lines})
    links = [{"label": "Ändringarna på webben", "href": base + "andringar.html"}]
    if out.exists(f"drafts/{version}/andringar.docx"):
        links.append({"label": "Ändringarna i Word (spårade ändringar)", "href": base + "andringar.docx"})
    return {"previous": changes.get("from"), "summary": changes.get("summary", ""), "groups": groups,
            "note": changes.get("text_note"), "links": links}


def draft_file_key(out: Storage, version: str, filename: str) -> str | None:
    """``drafts/<version>/<file>`` of a published draft, for the files the page links to."""
    if filename not in DRAFT_FILES or not VERSION.fullmatch(version) or ".." in version:
        return None
    if not out.exists(f"drafts/{version}/manifest.json"):
        return None
    return f"drafts/{version}/{filename}"


# --- rendering ------------------------------------------------------------------------------


def render_page(config: Config, template: str, **context) -> str:
    """One of ``templates/portal/*.html.j2`` (autoescaped), with the form's field names."""
    return html_env(config.templates).get_template(f"portal/{template}").render(
        outline=config.outline, file_field=FILE_FIELD, piece_field=PIECE_FIELD, **context)


def received_banner(view: dict, name: str | None) -> str | None:
    """The file just stored, when it is really in the person's folder (the name comes back
    in the address after an upload and is shown only then)."""
    if not name:
        return None
    return name if any(f["name"] == name for f in view.get("files", [])) else None
