"""Reviewers' comments back to their owners.

Reviewers return a draft .docx (or a copy) with Word comments and tracked changes into
``feedback/<reviewer>/`` of the inbox. Every file is screened like any inbox file, its
text is matched to a published draft's text record (``drafts/<version>/paragraphs.json``)
and each comment and suggested change becomes a *review point* owned by the paket, piece
and partner whose text it touches. Outputs:

```
feedback.json            every point, per partner and per paket (data)
feedback/index.html      the same for people, in Swedish
feedback/status.toml     the coordinator's status per point (written once, never overwritten)
rejected/feedback/<reviewer>/<file>.txt   why a returned file was not read (Swedish)
```

A point's id is a hash of what it says (reviewer, kind, author, date, the words it is
anchored on and its text), so it stays the same across rebuilds and when a reviewer
returns the file again under another name; the status file is keyed by these ids.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property

from tasks.compare import similarity
from tasks.config import Config
from tasks.docxtext import Returned, normalise, read_draft_text, read_returned
from tasks.errors import (
    ConfigError,
    CorruptFile,
    FileTooLarge,
    HiddenFile,
    NoReviewerFolder,
    NotADraft,
    NotWordFeedback,
    Rejected,
    UnsafeName,
)
from tasks.intake import _rebuild, _safe_segment
from tasks.reasons import explain
from tasks.screening import screen_file
from tasks.storage import Entry, Storage, UnsafeKey, check_key
from tasks.templating import STOCKHOLM, html_env, swedish_date, swedish_datetime

FOLDER = "feedback/"  # in the inbox (skipped by the partner intake)
STATUS_KEY = "feedback/status.toml"
PAGE_KEY = "feedback/index.html"
DATA_KEY = "feedback.json"
CACHE_KEY = "cache/feedback.json"
# Bump when reading or placing changes, so cached results are read again.
READER = "1"
# Share of a returned file's paragraphs that must be found in a draft for it to be that draft.
MATCH_SHARE = 0.5
# A changed paragraph is still "the same" paragraph at this similarity (by words).
NEAR_SIMILARITY = 0.6
VERSION_HINT = re.compile(r"\b(\d{8}-\d{6}-[0-9a-f]{6})\b")

STATUSES = {"open": "open", "öppen": "open", "oppen": "open", "answered": "answered", "besvarad": "answered",
            "done": "done", "klar": "done"}
STATUS_SV = {"open": "öppen", "answered": "besvarad", "done": "klar"}
KIND_SV = {"comment": "kommentar", "insert": "tillägg", "delete": "strykning", "replace": "ändring"}

STATUS_TEMPLATE = """\
# Status för granskningspunkterna i feedback/index.html (och feedback.json).
# En rad per punkt, med punktens id som nyckel:
#
#   a1b2c3d4e5 = "klar"
#   f6e7d8c9b0 = { status = "besvarad", svar = "Rättat i version 3 av 2.1." }
#
# status: "öppen", "besvarad" eller "klar" (även open, answered, done).
# svar: valfri text som visas vid punkten. Punkter som inte står här är öppna.
# utkast läser filen vid varje körning och skriver aldrig över den.

[punkter]
"""


@dataclass
class ReturnedFile:
    """One file in ``feedback/`` and what became of it."""

    key: str
    reviewer: str | None
    name: str
    etag: str = ""
    size: int = 0
    sha256: str | None = None
    verdict: str = "pending"  # read | rejected
    reason_code: str | None = None
    reason: str | None = None
    detail: str | None = None
    facts: dict = field(default_factory=dict)
    version: str | None = None
    points: list[dict] = field(default_factory=list)

    def reject(self, err: Rejected, config: Config) -> None:
        self.verdict, self.reason_code, self.detail, self.facts = "rejected", err.code, err.detail, err.facts
        self.reason = explain(err, valid_pieces=list(config.outline.pieces))


class PublishedTexts:
    """The text records of published drafts, read when first needed."""

    def __init__(self, out: Storage, config: Config):
        self.out, self.config = out, config
        self._records: dict[str, list[dict] | None] = {}

    @cached_property
    def versions(self) -> list[str]:
        """Published versions, newest first (listed only when a file has to be matched)."""
        from tasks.publish import list_versions

        return list_versions(self.out)

    def record(self, version: str) -> list[dict] | None:
        if version not in self._records:
            stored = self.out.read_text(f"drafts/{version}/paragraphs.json")
            docx_key = f"drafts/{version}/utkast.docx"
            if stored is not None:
                self._records[version] = json.loads(stored)["paragraphs"]
            elif self.out.exists(docx_key):
                self._records[version] = read_draft_text(self.out.read(docx_key), self.config)
            else:
                self._records[version] = None
        return self._records[version]


# --- reading returned files -------------------------------------------------------------


def harvest_feedback(inbox: Storage, out: Storage, config: Config) -> dict:
    """Read every reviewer's file in ``feedback/``, place its comments and changes, apply
    the coordinator's statuses and write ``feedback.json``, ``feedback/index.html`` and the
    rejection notes. Returns the data of ``feedback.json``."""
    cache, loaded = _load_cache(out)
    known = cache["files"]
    texts = PublishedTexts(out, config)
    files, seen = [], set()
    for entry in sorted(inbox.list(FOLDER), key=lambda e: e.key):
        seen.add(entry.key)
        files.append(read_feedback_file(inbox, entry, config, known, texts))
    for key in list(known):
        if key not in seen:
            del known[key]
    points = [p for f in files for p in f.points]
    assign_ids(points)
    statuses, problems = read_statuses(out, {p["id"] for p in points})
    data = feedback_data(files, points, statuses, problems, config)
    write_feedback_notes(out, files, cache)
    # An idle build writes nothing: the outputs are rewritten only when what they say changed.
    content = hashlib.sha256(json.dumps({k: v for k, v in data.items() if k != "generated"}, sort_keys=True,
                                        ensure_ascii=False).encode("utf-8")).hexdigest()
    if cache.get("written") != content or not out.exists(DATA_KEY):
        out.write(DATA_KEY, json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
        out.write(PAGE_KEY, render_feedback_html(data, config).encode("utf-8"), "text/html; charset=utf-8")
        cache["written"] = content
    if points and not out.exists(STATUS_KEY):
        out.write(STATUS_KEY, STATUS_TEMPLATE.encode("utf-8"), "application/toml")
    text = json.dumps(cache, ensure_ascii=False, sort_keys=True)
    if text != loaded:
        out.write(CACHE_KEY, text.encode("utf-8"), "application/json")
    return data


def read_feedback_file(inbox: Storage, entry: Entry, config: Config, known: dict,
                       texts: PublishedTexts) -> ReturnedFile:
    """The verdict and the points of one returned file (unchanged files from the cache)."""
    parts = unicodedata.normalize("NFC", entry.key).split("/")  # macOS uploads names in NFD
    f = ReturnedFile(entry.key, parts[1] if len(parts) >= 3 else None, parts[-1], entry.etag, entry.size)
    cached = known.get(entry.key)
    if cached and cached["etag"] == entry.etag and cached["size"] == entry.size:
        f.sha256, f.version, f.points = cached["sha256"], cached["version"], [dict(p) for p in cached["points"]]
        if cached.get("rejected"):
            code, detail, facts = cached["rejected"]
            f.reject(_rebuild(code, detail, facts), config)
        else:
            f.verdict = "read"
        return f
    try:
        _examine(inbox, f, config, texts)
        f.verdict = "read"
    except Rejected as err:
        f.reject(err, config)
    known[entry.key] = {"etag": entry.etag, "size": entry.size, "sha256": f.sha256, "version": f.version,
                        "points": f.points,
                        "rejected": [f.reason_code, f.detail, f.facts] if f.verdict == "rejected" else None}
    return f


def _examine(inbox: Storage, f: ReturnedFile, config: Config, texts: PublishedTexts) -> None:
    limits = config.settings.limits
    try:
        check_key(f.key)
    except UnsafeKey:
        raise UnsafeName(f.key)
    if any(ord(ch) < 32 for ch in f.key):
        raise UnsafeName(f.key)
    if f.name.startswith((".", "~$")) or any(p.startswith(".") for p in f.key.split("/")[1:-1]):
        raise HiddenFile(f.name)
    if f.reviewer is None:
        raise NoReviewerFolder(f.name)
    if f.size > limits.max_file_bytes:
        raise FileTooLarge(size=f.size, limit=limits.max_file_bytes)
    data = inbox.read(f.key)
    f.sha256 = hashlib.sha256(data).hexdigest()
    screened = screen_file(f.name, data, limits)  # raises Rejected like for any inbox file
    if screened.kind != "docx":
        raise NotWordFeedback(screened.kind)
    try:
        returned = read_returned(data)
    except Exception as exc:  # malformed XML in a file that passed screening
        raise CorruptFile(f"reading comments: {exc}"[:300]) from None
    version = match_version(returned, texts)
    if version is None:
        raise NotADraft("no published draft shares enough paragraphs with this file")
    f.version = version
    f.points = place_points(returned, texts.record(version), f, version)


def match_version(returned: Returned, texts: PublishedTexts) -> str | None:
    """The published draft this file is a copy of: the one holding the largest share of
    its paragraphs (at least :data:`MATCH_SHARE`). The version named in the draft's
    subtitle is tried first."""
    mine = [t for t in (normalise(p) for p in returned.paragraphs) if len(t) >= 3]
    if not mine:
        return None
    hints = [m.group(1) for t in mine[:12] for m in VERSION_HINT.finditer(t)]
    order = [v for v in dict.fromkeys(hints) if v in texts.versions]
    order += [v for v in texts.versions if v not in order]
    best_share, best = 0.0, None
    for version in order:
        record = texts.record(version)
        if not record:
            continue
        have = {normalise(p["text"]) for p in record}
        share = sum(t in have for t in mine) / len(mine)
        if share > best_share:
            best_share, best = share, version
        if share >= 0.9:
            break
    return best if best_share >= MATCH_SHARE else None


def locate(returned: Returned, record: list[dict]) -> list[int | None]:
    """For every paragraph of the returned file, the index of the same paragraph in the
    draft's record (None where the reviewer changed it beyond recognition or added it)."""
    from difflib import SequenceMatcher

    a = [normalise(t) for t in returned.paragraphs]
    b = [normalise(p["text"]) for p in record]
    found: list[int | None] = [None] * len(a)
    for i, j, size in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(size):
            found[i + k] = j + k
    return found


def place_points(returned: Returned, record: list[dict], f: ReturnedFile, version: str) -> list[dict]:
    """Each comment and tracked change of the file as a point owned by the paragraph of the
    draft it touches."""
    found = locate(returned, record)
    points = []
    for mark in sorted(returned.marks, key=lambda m: (m.paragraph if m.paragraph is not None else -1, m.kind)):
        index, placed = _place(mark.paragraph, returned, record, found)
        owner = record[index] if index is not None else {}
        points.append({
            "reviewer": f.reviewer, "file": f.name, "version": version,
            "kind": mark.kind, "author": mark.author, "date": mark.date,
            "text": mark.text, "anchor": mark.anchor, "inserted": mark.inserted, "deleted": mark.deleted,
            "paragraph": owner.get("text", "")[:600],
            "paket": owner.get("paket"), "piece": owner.get("piece"), "partner": owner.get("partner"),
            "placed": placed,
        })
    return points


def _place(at: int | None, returned: Returned, record: list[dict], found: list) -> tuple[int | None, str]:
    if at is None:
        return None, "none"
    if found[at] is not None:
        return found[at], "exact"
    before = next((found[k] for k in range(at - 1, -1, -1) if found[k] is not None), None)
    after = next((found[k] for k in range(at + 1, len(found)) if found[k] is not None), None)
    low = before + 1 if before is not None else 0
    high = after if after is not None else len(record)
    text = returned.paragraphs[at]
    if normalise(text):
        scored = [(similarity(text, record[j]["text"]), j) for j in range(low, high)]
        scored = [s for s in scored if s[0] >= NEAR_SIMILARITY]
        if scored:
            return max(scored)[1], "similar"
    if before is not None:
        return before, "after"
    if after is not None:
        return after, "before"
    return None, "none"


def assign_ids(points: list[dict]) -> None:
    """Stable ids from what a point says; the n-th identical point gets its own."""
    seen: dict[str, int] = {}
    for p in points:
        basis = json.dumps([p["reviewer"], p["kind"], p["author"], p["date"], p["anchor"], p["text"],
                            p["inserted"], p["deleted"]], ensure_ascii=False)
        n = seen.get(basis, 0)
        seen[basis] = n + 1
        p["id"] = hashlib.sha256(f"{basis}#{n}".encode("utf-8")).hexdigest()[:10]


# --- the coordinator's statuses -----------------------------------------------------------


def read_statuses(out: Storage, ids: set[str] | None = None) -> tuple[dict[str, dict], list[str]]:
    """Statuses from ``feedback/status.toml`` and the problems found in it (each naming the
    file and the key). A bad entry is reported and skipped; it never stops a build."""
    def problem(key: str, what: str) -> str:
        return str(ConfigError(STATUS_KEY, key, what))

    try:
        text = out.read(STATUS_KEY).decode("utf-8-sig")
    except FileNotFoundError:
        return {}, []
    except UnicodeDecodeError:
        return {}, [problem("-", "filen är inte sparad som UTF-8; alla punkter visas som öppna")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, [problem("-", f"inte giltig TOML ({exc}); alla punkter visas som öppna")]
    problems = [problem(k, "okänd nyckel; punkterna står under [punkter]") for k in data if k != "punkter"]
    table = data.get("punkter", {})
    if not isinstance(table, dict):
        return {}, problems + [problem("punkter", "måste vara en tabell: [punkter]")]
    statuses = {}
    for pid, value in table.items():
        where = f"punkter.{pid}"
        answer = None
        if isinstance(value, dict):
            extra = sorted(set(value) - {"status", "svar"})
            if extra:
                problems.append(problem(where, f"okänd nyckel {extra[0]!r}; använd status och svar"))
            status, answer = value.get("status"), value.get("svar")
            if answer is not None and not isinstance(answer, str):
                problems.append(problem(f"{where}.svar", "måste vara text inom citattecken"))
                answer = None
        else:
            status = value
        normal = STATUSES.get(status.strip().casefold()) if isinstance(status, str) else None
        if normal is None:
            problems.append(problem(where, f"okänd status {status!r}; "
                                           "använd \"öppen\", \"besvarad\" eller \"klar\""))
            continue
        if ids is not None and pid not in ids:
            problems.append(problem(where, "det finns ingen granskningspunkt med det id:t (har filen tagits bort?)"))
        statuses[pid] = {"status": normal, "answer": answer}
    return statuses, problems


def open_review_counts(out: Storage) -> dict[str, int]:
    """Open review points per report (``partner/piece``), with the statuses as they are now."""
    text = out.read_text(DATA_KEY)
    if not text:
        return {}
    try:
        points = json.loads(text).get("points", [])
    except json.JSONDecodeError:
        return {}
    statuses, _ = read_statuses(out)
    counts: dict[str, int] = {}
    for p in points:
        if p.get("partner") and p.get("piece") and statuses.get(p["id"], {}).get("status", "open") == "open":
            slot = f"{p['partner']}/{p['piece']}"
            counts[slot] = counts.get(slot, 0) + 1
    return counts


# --- outputs ------------------------------------------------------------------------------


def feedback_data(files: list[ReturnedFile], points: list[dict], statuses: dict[str, dict],
                  problems: list[str], config: Config) -> dict:
    """Everything ``feedback.json`` and the page show."""
    names = {p.slug: p for p in config.registry.partners}
    for p in points:
        chosen = statuses.get(p["id"], {"status": "open", "answer": None})
        p["status"], p["answer"] = chosen["status"], chosen["answer"]
        p["status_sv"], p["kind_sv"] = STATUS_SV[p["status"]], KIND_SV[p["kind"]]
        p["partner_short"] = names[p["partner"]].short if p.get("partner") in names else None
        p["date_sv"] = _date_sv(p["date"])
    points.sort(key=lambda p: (p["paket"] is None, p["paket"] or 0, p["piece"] or "", p["partner"] or "",
                               p["date"], p["id"]))
    by_partner = []
    for partner in config.registry.partners:
        mine = [p for p in points if p.get("partner") == partner.slug]
        if mine:
            by_partner.append({"partner": partner.slug, "name": partner.name, "short": partner.short,
                               "open": [p["id"] for p in mine if p["status"] == "open"],
                               "answered": [p["id"] for p in mine if p["status"] == "answered"],
                               "done": [p["id"] for p in mine if p["status"] == "done"]})
    by_paket = [{"number": pk.number, "title": pk.title,
                 "points": [p["id"] for p in points if p["paket"] == pk.number]} for pk in config.outline.paket]
    by_paket.append({"number": None, "title": "Inledningen och övrigt",
                     "points": [p["id"] for p in points if p["paket"] is None]})
    return {
        "generated": datetime.now(STOCKHOLM).isoformat(timespec="seconds"),
        "counts": {"points": len(points), **{s: sum(p["status"] == s for p in points) for s in STATUS_SV},
                   "files": len(files), "rejected": sum(f.verdict == "rejected" for f in files)},
        "points": points,
        "by_partner": by_partner,
        "by_paket": by_paket,
        "files": [{"key": f.key, "reviewer": f.reviewer, "file": f.name, "verdict": f.verdict,
                   "reason": f.reason, "version": f.version, "points": len(f.points),
                   "note": feedback_note_key(f) if f.verdict == "rejected" else None} for f in files],
        "status_file": STATUS_KEY,
        "status_problems": problems,
    }


def _date_sv(stamp: str) -> str:
    try:
        dt = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return stamp or ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return swedish_date(dt)


def feedback_note_key(f: ReturnedFile) -> str:
    return f"rejected/feedback/{_safe_segment(f.reviewer) or '_mappen'}/{_safe_segment(f.name) or 'fil'}.txt"


def feedback_note_text(f: ReturnedFile) -> str:
    return (
        "Filen lästes inte som synpunkter på utkastet\n"
        "============================================\n\n"
        f"Fil: {f.name}\n"
        f"Granskare: {f.reviewer or '–'}\n\n"
        f"Varför: {f.reason}\n\n"
        "Originalfilen ligger kvar orörd i inkorgen. När du lägger in en rättad fil läses den vid "
        "nästa körning, och den här förklaringen försvinner.\n"
    )


def write_feedback_notes(out: Storage, files: list[ReturnedFile], cache: dict) -> None:
    """A Swedish note per rejected file; notes of files no longer rejected are removed."""
    notes = cache.setdefault("notes", {})
    wanted = {feedback_note_key(f): feedback_note_text(f) for f in files if f.verdict == "rejected"}
    for key, text in wanted.items():
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        if notes.get(key) != digest or not out.exists(key):
            out.write(key, text.encode("utf-8"), "text/plain; charset=utf-8")
            notes[key] = digest
    for key in list(notes):
        if key not in wanted:
            out.delete(key)
            del notes[key]


def _load_cache(out: Storage) -> tuple[dict, str | None]:
    """The harvest's memory between runs and its text as loaded (to write it only when changed)."""
    text = out.read_text(CACHE_KEY)
    try:
        cache = json.loads(text) if text else {}
    except json.JSONDecodeError:
        cache = {}
    if not isinstance(cache, dict):
        cache = {}
    if cache.get("reader") != READER:  # read every file again, but remember the notes written
        cache = {"reader": READER, "files": {}, "notes": cache.get("notes", {})}
    return cache, text


def render_feedback_html(data: dict, config: Config) -> str:
    by_id = {p["id"]: p for p in data["points"]}
    partners = [{**g, "open_points": [by_id[i] for i in g["open"]],
                 "answered_points": [by_id[i] for i in g["answered"]]} for g in data["by_partner"]]
    paket = [{**g, "items": [by_id[i] for i in g["points"]]} for g in data["by_paket"]]
    return html_env(config.templates).get_template("feedback.html.j2").render(
        data=data, partners=partners, paket=paket, outline=config.outline,
        generated=swedish_datetime(time.time()))


def feedback_markdown(data: dict) -> str:
    """The open review points as Markdown (a Prefect artifact)."""
    c = data["counts"]
    lines = ["# Öppna granskningspunkter", "",
             f"{c['open']} öppna, {c['answered']} besvarade, {c['done']} klara "
             f"(från {c['files']} inlämnade filer, {c['rejected']} avvisade).", ""]
    if data["by_partner"]:
        lines += ["| Partner | Öppna | Besvarade | Klara |", "|---|---|---|---|"]
        lines += [f"| {g['name']} | {len(g['open'])} | {len(g['answered'])} | {len(g['done'])} |"
                  for g in data["by_partner"]]
        lines.append("")
    by_id = {p["id"]: p for p in data["points"]}
    for g in data["by_paket"]:
        open_points = [by_id[i] for i in g["points"] if by_id[i]["status"] == "open"]
        if not open_points:
            continue
        title = f"Paket {g['number']}. {g['title']}" if g["number"] else g["title"]
        lines.append(f"## {title}")
        for p in open_points:
            what = p["text"] or p["inserted"] or p["deleted"]
            where = " ".join(x for x in [p["piece"] or "", p["partner_short"] or ""] if x) or "inledningen"
            lines.append(f"- `{p['id']}` {where}, {p['kind_sv']} från {p['author'] or p['reviewer']}: {what[:200]}")
        lines.append("")
    if data["status_problems"]:
        lines += ["## Fel i statusfilen", *[f"- {x}" for x in data["status_problems"]], ""]
    rejected = [f for f in data["files"] if f["verdict"] == "rejected"]
    if rejected:
        lines += ["## Filer som inte kunde läsas", *[f"- {f['key']}: {f['reason']}" for f in rejected], ""]
    return "\n".join(lines).rstrip() + "\n"
