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
from pathlib import PurePosixPath

from tasks.core.config import Config
from tasks.core.formats import BY_EXTENSION, DRAFT_FORMATS, draft_label, others_sv
from tasks.core.slots import slot_key
from tasks.core.templating import MONTHS, STOCKHOLM, html_env, stockholm_today, swedish_date, swedish_datetime
from tasks.draft.catalogue import CHANGES, changes_key, list_versions, read_entry, read_latest
from tasks.intake.tracker import STATE_SV, file_ref
from tasks.personal.scan import counts_phrase
from tasks.portal.links import Link
from tasks.portal.uploads import FILE_FIELD, MB, PIECE_FIELD
from tasks.roundtrip.feedback import FOLDER as FEEDBACK_FOLDER
from tasks.roundtrip.points import DATA_KEY as FEEDBACK_KEY
from tasks.roundtrip.points import read_statuses
from tasks.storage.base import Storage, safe_name

REVIEW_FILE = re.compile(r"([1-9]\.[1-9])\.(html|docx)")
# What the reviewers' page links to next to a draft: the draft in each format, and its changes.
DRAFT_FILES = {f"utkast.{fmt}" for fmt in DRAFT_FORMATS} | {f"{CHANGES}.html", f"{CHANGES}.docx"}
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,80}")
RECEIVED = "mottagen"  # the query parameter after an upload: the stored file's ref, never its name


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


def partner_view(inbox: Storage, out: Storage, config: Config, slug: str, today: date | None = None,
                 now: float | None = None) -> dict:
    """Everything the partner's page shows: their files with each one's verdict, the pieces
    that are theirs (commissioned to them in outline.toml, or delivered by them) with due
    date, "försenad", review and reviewers' points, the pieces nobody has delivered yet (when
    none is commissioned to them), when to deliver by and whom to ask."""
    today = today or stockholm_today(now)
    partner = config.registry.by_slug(slug)
    tracker = _json(out, "status.json") or {}
    ours = _rows(tracker, slug)
    verdicts = file_verdicts(ours["cells"], ours["rejected"], ours["superseded"])
    files = partner_files(inbox, [slug, *partner.aliases], verdicts, now)
    points = _open_points(out, slug)
    delivered = {p["id"] for p in tracker.get("pieces", []) if p.get("status") == "received"}
    commissioned = [p for p in config.outline.pieces if slug in config.outline.commissioned(p)]
    cells = {c["piece"]: c for c in ours["cells"]}
    items = [piece_item(config, piece, cells.get(piece.id), [p for p in points if p.get("piece") == piece.id],
                        piece.id in commissioned, today) for piece in config.outline.pieces.values()]
    mine = [i for i in items if i["ours"]]
    open_pieces = [] if commissioned else [i for i in items if not i["ours"] and i["id"] not in delivered]
    return {
        "partner": {"slug": slug, "name": partner.name, "short": partner.short},
        "files": files, "mine": mine, "open_pieces": open_pieces,
        "unplaced": [r for r in ours["rejected"] if not r.get("piece")],
        "deadline": deadline_of(config, mine, commissioned, today),
        "contact": contact_of(config),
        "points_elsewhere": [p for p in points if p.get("piece") not in config.outline.pieces],
        "updated": _when(float(tracker["generated"])) if tracker.get("generated") else None,
        "waiting": any(f["state"] == "pending" for f in files) or any(
            (i["review"] or {}).get("pending") for i in mine),
        "pieces": [{"id": p.id, "title": p.title} for p in config.outline.pieces.values()],
        "max_mb": config.settings.limits.max_file_bytes // MB,
    }


def _rows(tracker: dict, slug: str) -> dict[str, list[dict]]:
    """The partner's own rows of the tracker: cells, rejected and superseded files."""
    cells = [c for c in (tracker.get("cells") or {}).values() if c.get("partner") == slug]
    return {"cells": cells,
            "rejected": [r for r in tracker.get("rejected", []) if r.get("partner") == slug],
            "superseded": [r for r in tracker.get("superseded", []) if r.get("partner") == slug]}


def partner_files(inbox: Storage, folders: list[str], verdicts: dict, now: float | None = None) -> list[dict]:
    """The files in the partner's folders (slug and aliases), newest first, each with its
    verdict (:func:`file_state`) and the ref an upload's banner finds it by."""
    files = []
    for folder in dict.fromkeys(folders):
        for entry in inbox.list(f"{folder}/"):
            name = entry.key.rsplit("/", 1)[-1]
            if name.startswith(".") and name.endswith(".tmp"):
                continue  # a write in progress
            ref = file_ref(entry.key, entry.etag)
            verdict = verdicts.get(ref)
            state, text = file_state(verdict, entry.modified, now)
            files.append({"name": name, "key": entry.key, "state": state, "text": text, "ref": ref,
                          "reason": verdict[1] if verdict and state == "rejected" else None,
                          "when": _when(entry.modified), "modified": entry.modified})
    return sorted(files, key=lambda f: (-f["modified"], f["name"]))


def piece_item(config: Config, piece, cell: dict | None, points: list[dict], commissioned: bool,
               today: date) -> dict:
    """One piece as the partner's page shows it; every key is always there, whatever the
    state (missing, late, received, too long, rejected, review pending or done, points)."""
    due = config.outline.due(piece.id)
    cell = cell or {"state": "missing"}
    late = bool(commissioned and cell["state"] in ("missing", "rejected") and due and due < today)
    review = cell.get("review") or {}
    if review.get("pending"):
        shown_review = {"pending": True}
    elif review.get("html"):
        shown_review = {"pending": False, "findings": review.get("findings"),
                        "html": f"granskning/{piece.id}.html", "docx": f"granskning/{piece.id}.docx"}
    else:
        shown_review = None
    return {"id": piece.id, "title": piece.title, "paket": piece.paket,
            "ours": commissioned or cell["state"] != "missing" or bool(points),
            "state": cell["state"], "state_sv": "försenad" if late else STATE_SV.get(cell["state"], cell["state"]),
            "late": late, "due": swedish_date(due) if due else None,
            "file": (cell.get("source") or "").rsplit("/", 1)[-1] or None,
            "rejected": cell.get("rejected", []), "words": cell.get("words"), "pages": cell.get("pages"),
            "personal": counts_phrase(cell.get("personal") or {}) or None,
            "accessibility": cell.get("accessibility"), "review": shown_review, "points": points}


def deadline_of(config: Config, mine: list[dict], commissioned: list[str], today: date) -> dict | None:
    """When the partner delivers by: the earliest due date of their commissioned pieces not
    yet received (``done`` when all are in: then the latest of them), else (nothing
    commissioned to them) the project's deadline."""
    schedule = config.outline.schedule
    if commissioned:
        dates = {i["id"]: config.outline.due(i["id"]) for i in mine if i["id"] in commissioned}
        open_dates = [d for p, d in dates.items() if d and next(i for i in mine if i["id"] == p)["state"]
                      in ("missing", "rejected")]
        done = not open_dates
        when = min(open_dates) if open_dates else max((d for d in dates.values() if d), default=None)
    else:
        when, done = (schedule.deadline if schedule else None), False
    if when is None:
        return None
    return {"date": swedish_date(when), "late": not done and when < today, "done": done}


def contact_of(config: Config) -> dict:
    """Whom partners ask: the coordinator in people.toml (name, and the first address)."""
    person = config.people.coordinator
    return {"name": person.name, "email": person.email[0] if person.email else None}


def file_verdicts(cells: list[dict], rejected: list[dict], superseded: list[dict]) -> dict[str, tuple[str, str]]:
    """The verdict of each of a partner's files by its :func:`~tasks.intake.tracker.file_ref`:
    ("received", piece), ("rejected", the Swedish reason) or ("superseded", piece). The
    tracker shows keys masked, so a file is found by its ref, never by its name."""
    found = {r["ref"]: ("superseded", r.get("piece") or "") for r in superseded if r.get("ref")}
    found |= {c["ref"]: ("received", c["piece"]) for c in cells if c.get("ref") and c.get("source")}
    found |= {r["ref"]: ("rejected", r.get("reason") or "") for r in rejected if r.get("ref")}
    return found


def file_state(verdict: tuple[str, str] | None, modified: float, now: float | None = None) -> tuple[str, str]:
    """What the partner's page says of one file: its verdict, or since when it waits for one."""
    kind, detail = verdict or ("pending", "")
    if kind == "received":
        return kind, f"mottagen som delrapport {detail}"
    if kind == "rejected":
        return kind, f"avvisad: {detail}"
    if kind == "superseded":
        return kind, "ersatt av en nyare fil för samma delrapport"
    return "pending", f"väntar på granskning sedan {since(modified, now)}"


def since(ts: float, now: float | None = None) -> str:
    """``kl. 12.56`` today, else ``4 december kl. 12.56`` (Stockholm time)."""
    when = datetime.fromtimestamp(ts, STOCKHOLM)
    if when.date() == stockholm_today(now):
        return f"kl. {when:%H.%M}"
    return f"{when.day} {MONTHS[when.month - 1]} kl. {when:%H.%M}"


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


def review_download_name(inbox: Storage, out: Storage, config: Config, slug: str, piece: str) -> str:
    """What the partner's Word file with the review's comments is called when downloaded:
    their own file's name with " – språkgranskning" (found by the tracker's ref, so a masked
    name in the tracker still gives the real one back to its owner)."""
    cell = ((_json(out, "status.json") or {}).get("cells") or {}).get(slot_key(slug, piece)) or {}
    partner = config.registry.by_slug(slug)
    for folder in dict.fromkeys((slug, *partner.aliases)):
        for entry in inbox.list(f"{folder}/"):
            if cell.get("ref") and file_ref(entry.key, entry.etag) == cell["ref"]:
                stem = PurePosixPath(entry.key).stem
                return f"{stem} – språkgranskning.docx"
    return f"{piece} språkgranskning.docx"


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
        entry = read_entry(out, version) or {}  # a few lines, not the manifest of every report
        changes = _json(out, changes_key(version, "json"))
        base = f"utkast/{version}/"
        draft = {
            "version": version, "created": entry.get("created") or latest.get("created", ""),
            "downloads": [{"format": draft_label(fmt), "href": base + f"utkast.{fmt}"}
                          for fmt in latest.get("formats", {}) if fmt in DRAFT_FORMATS],
            "reports": entry.get("reports", 0), "missing": entry.get("missing", []),
            "pieces_total": len(config.outline.pieces),
            "changes": _changes(changes, out, version, base),
        }
    files = reviewer_files(inbox, out, f"{FEEDBACK_FOLDER}{safe_name(link.name)}/")
    return {"reviewer": link.name, "draft": draft, "files": files, "drafts": len(list_versions(out)),
            "waiting": any(f["state"] == "pending" for f in files),
            "max_mb": config.settings.limits.max_file_bytes // MB}


def reviewer_files(inbox: Storage, out: Storage, folder: str, now: float | None = None) -> list[dict]:
    """The files a reviewer handed back, newest first, each with what became of it."""
    data = _json(out, FEEDBACK_KEY) or {}
    known = {f["key"]: f for f in data.get("files", []) if f.get("key", "").startswith(folder)}
    files = []
    for entry in inbox.list(folder):
        name = entry.key.rsplit("/", 1)[-1]
        if name.startswith(".") and name.endswith(".tmp"):
            continue
        f = known.get(entry.key)
        if f is None:
            state, text = "pending", f"väntar på att läsas in sedan {since(entry.modified, now)}"
        elif f.get("verdict") == "rejected":
            state, text = "rejected", f"kunde inte läsas: {f.get('reason') or ''}"
        else:
            n = f.get("points", 0)
            state, text = "received", f"läst: {n} {'synpunkt' if n == 1 else 'synpunkter'} förd till partnerna"
        reason = f.get("reason") if f and state == "rejected" else None
        files.append({"name": name, "state": state, "text": text, "ref": file_ref(entry.key, entry.etag),
                      "reason": reason, "when": _when(entry.modified), "modified": entry.modified})
    return sorted(files, key=lambda f: (-f["modified"], f["name"]))


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
    links = [{"label": "Ändringarna på webben", "href": f"{base}{CHANGES}.html"}]
    if out.exists(changes_key(version, "docx")):
        links.append({"label": "Ändringarna i Word (spårade ändringar)", "href": f"{base}{CHANGES}.docx"})
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


# What the partner's file field accepts (the browser checks it before sending; screening decides).
ACCEPT = ",".join(BY_EXTENSION)  # the accepted formats: one table, tasks/core/formats.py
ACCEPTED_OTHERS = others_sv()


def render_page(config: Config, template: str, root: str = "", **context) -> str:
    """One of ``templates/portal/*.html.j2`` (autoescaped), with the form's field names and the
    style sheet and script of the service mounted at ``root``."""
    return html_env(config.templates).get_template(f"portal/{template}").render(
        outline=config.outline, file_field=FILE_FIELD, piece_field=PIECE_FIELD, accept=ACCEPT,
        accepted_others=ACCEPTED_OTHERS, css_href=f"{root}/stil.css", script_href=f"{root}/skript.js", **context)


def received_banner(view: dict, ref: str | None) -> dict | None:
    """The file just stored, found by the ref that comes back in the address after an
    upload (the address never holds the name: it reaches access logs), with its state: the
    banner says "Mottagen" until the verdict is in, then the verdict."""
    if not ref:
        return None
    return next((f for f in view.get("files", []) if f["ref"] == ref), None)
