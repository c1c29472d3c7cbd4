"""Review points after harvesting: the coordinator's statuses, counts per report, the
page and the data file, notes on files that could not be read.
"""

from __future__ import annotations

import hashlib
import json
import time
import tomllib
from datetime import datetime, timezone

from tasks.core.config import Config
from tasks.core.errors import (
    ConfigError,
)
from tasks.core.slots import slot_key
from tasks.core.templating import STOCKHOLM, html_env, swedish_date, swedish_datetime
from tasks.personal.filenames import mask_file_name, mask_in_text, mask_key
from tasks.personal.rules import PersonalRules, load_rules
from tasks.roundtrip.returned import ReturnedFile
from tasks.storage.base import Storage, safe_name

STATUS_KEY = "feedback/status.toml"
PAGE_KEY = "feedback/index.html"
DATA_KEY = "feedback.json"

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
            slot = slot_key(p["partner"], p["piece"])
            counts[slot] = counts.get(slot, 0) + 1
    return counts


# --- outputs ------------------------------------------------------------------------------


def feedback_data(files: list[ReturnedFile], points: list[dict], statuses: dict[str, dict],
                  problems: list[str], config: Config) -> dict:
    """Everything ``feedback.json`` and the page show (file names with personal data masked:
    the page is for every partner)."""
    names = {p.slug: p for p in config.registry.partners}
    rules = load_rules(config.templates, config.registry)
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
        "files": [{"key": mask_key(f.key, rules), "reviewer": f.reviewer, "file": mask_file_name(f.name, rules),
                   "verdict": f.verdict, "reason": f.reason and mask_in_text(f.reason, rules), "version": f.version,
                   "points": len(f.points), "note": feedback_note_key(f, rules) if f.verdict == "rejected" else None}
                  for f in files],
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


def feedback_note_key(f: ReturnedFile, rules: PersonalRules) -> str:
    """``rejected/feedback/<reviewer>/<file>.txt``, the file's name with personal data masked
    (the note is listed next to everyone's)."""
    name = mask_file_name(f.name, rules)
    return f"rejected/feedback/{safe_name(f.reviewer) or '_mappen'}/{safe_name(name) or 'fil'}.txt"


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


def write_feedback_notes(out: Storage, files: list[ReturnedFile], cache: dict, config: Config) -> None:
    """A Swedish note per rejected file; notes of files no longer rejected are removed."""
    rules = load_rules(config.templates, config.registry)
    notes = cache.setdefault("notes", {})
    wanted = {feedback_note_key(f, rules): feedback_note_text(f) for f in files if f.verdict == "rejected"}
    for key, text in wanted.items():
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        if notes.get(key) != digest or not out.exists(key):
            out.write(key, text.encode("utf-8"), "text/plain; charset=utf-8")
            notes[key] = digest
    for key in list(notes):
        if key not in wanted:
            out.delete(key)
            del notes[key]


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
