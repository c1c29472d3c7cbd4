"""What changed since the last draft, published next to every draft:

```
drafts/<version>/paragraphs.json   the draft's text record: every paragraph and its owner
drafts/<version>/andringar.json    changes since the previous draft (reports per paket + text)
drafts/<version>/andringar.html    the same for people: changelog and text with <ins>/<del>
drafts/<version>/andringar.docx    the draft with the differences as Word tracked changes
drafts/<B>/jamforelse-<A>.*        the same between any two drafts (``utkast diff A B``)
```

All of it is written before the manifest and ``latest.json``, so a published draft always
has its changes. Drafts published before the text record existed are read from their
Word file instead.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from markupsafe import Markup, escape

from tasks.core import jsonfast
from tasks.core.config import Config
from tasks.core.errors import UtkastError
from tasks.core.templating import html_env, swedish_datetime
from tasks.core.wordml import OBJECT
from tasks.core.wordtext import read_draft_text
from tasks.draft.catalogue import CHANGES, COMPARISON, changes_key, list_versions, read_latest
from tasks.draft.render import word_sequence
from tasks.draft.wordjoin import join_docx
from tasks.personal.mask import mask_record
from tasks.personal.rules import load_rules, masking_fingerprint
from tasks.roundtrip.compare import (
    Change,
    align,
    align_by_paket,
    changed,
    changelog,
    count_words,
    paket_runs,
    step_owner,
    summary_sv,
)
from tasks.roundtrip.redline import redline_docx, redline_markup
from tasks.storage.base import Storage, read_all

RECORD = "paragraphs.json"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass
class DraftText:
    """What a comparison needs of one draft."""

    version: str
    manifest: dict
    record: list[dict] | None  # None: no Word file to read the text from
    docx: bytes | None
    rendered: object = None  # a draft being published: its opening and paket's Word parts (Rendered)


def record_key(version: str) -> str:
    return f"drafts/{version}/{RECORD}"


def load_draft(out: Storage, version: str, config: Config, *, need_docx: bool = True) -> DraftText:
    """A published draft: its manifest, text record and Word file (``need_docx=False``: only
    when there is no text record to read instead)."""
    text = out.read_text(f"drafts/{version}/manifest.json")
    if text is None:
        raise UtkastError(f"there is no draft {version} in {out.describe('drafts/')}")
    manifest = json.loads(text)
    docx_key = f"drafts/{version}/utkast.docx"
    stored = out.read_text(record_key(version))
    docx = out.read(docx_key) if (need_docx or stored is None) and out.exists(docx_key) else None
    if stored is not None:
        record = jsonfast.loads(stored)["paragraphs"]
    elif docx is not None:  # published before the text record existed
        record = read_draft_text(docx, config)
    else:
        record = None
    # A draft made under other masking rules is compared as masked now; one made under
    # these rules holds exactly what they let through.
    if record is not None and manifest.get("masking") != masking_fingerprint(config):
        record = mask_record(record, load_rules(config.templates, config.registry))
    return DraftText(version, manifest, record, docx)


def record_json(version: str, record: list[dict]) -> bytes:
    """``paragraphs.json``, compact (:mod:`tasks.core.jsonfast`)."""
    return jsonfast.dumps({"version": version, "paragraphs": record})


def publish_changes(out: Storage, config: Config, rendered, manifest: dict, previous: dict | None) -> dict:
    """Write the new draft's text record and its changes since ``previous`` (the previous
    draft's manifest, or None for the first draft) under ``drafts/<version>/``.

    The paket of a draft being published (``rendered``) are compared one by one: a paket
    whose paragraphs are the same as in the previous draft is not compared further, and the
    redline is the draft's opening and paket joined again with only the changed ones marked."""
    record = rendered.record if rendered.record is not None else read_draft_text(
        Path(rendered.docx).read_bytes(), config)
    version = manifest["version"]
    out.write(record_key(version), record_json(version, record), "application/json")
    new = DraftText(version, manifest, record, None, rendered=rendered)
    old = load_draft(out, previous["version"], config, need_docx=False) if previous else None
    return write_comparison(out, config, old, new, f"drafts/{version}/{CHANGES}")


def write_comparison(out: Storage, config: Config, old: DraftText | None, new: DraftText, base: str) -> dict:
    """Compare two drafts and write ``<base>.json``, ``<base>.html`` and (when both have
    text and the newer a Word file) ``<base>.docx``. Returns the JSON written."""
    log = changelog(old.manifest if old else None, new.manifest, config)
    steps, note, problems = None, None, {}
    if old is None:
        note = "Det här är det första utkastet; det finns inget tidigare utkast att jämföra texten med."
    elif old.record is None or new.record is None:
        note = "Texten kunde inte jämföras eftersom ett av utkasten saknar Word-fil."
    else:
        steps = align_by_paket(old.record, new.record)
    items = _text_changes(steps, old, new, config) if steps is not None else []
    _add_text_counts(log, items, steps is not None)
    files = {"json": f"{base}.json", "html": f"{base}.html"}
    if steps is not None and (new.docx is not None or new.rendered is not None):
        try:
            docx = _redline(out, old, new, steps, log, config)
        except Exception as exc:  # a redline problem must not stop the draft from publishing
            problems["docx"] = f"the redline could not be made: {exc!r}"[:1000]
        else:
            out.write(f"{base}.docx", docx, DOCX_MIME)
            files["docx"] = f"{base}.docx"
    result = {**log, "text_compared": steps is not None, "text_note": note, "files": files, "problems": problems,
              "changes": [{k: v for k, v in item.items() if k != "html"} for item in items]}
    html = html_env(config.templates).get_template("andringar.html.j2").render(
        log=log, groups=_groups(log, items), note=note, outline=config.outline,
        # A page written once cannot hold links that expire (presigned): the reviewers' page has them.
        links={} if out.links_expire else {fmt: out.href(key, from_key=files["html"])
                                            for fmt, key in files.items() if fmt != "html"},
        generated=swedish_datetime(datetime.now().timestamp()))
    out.write(files["html"], html.encode("utf-8"), "text/html; charset=utf-8")
    out.write(files["json"], jsonfast.dumps(result), "application/json")
    return result


def _redline(out: Storage, old: DraftText, new: DraftText, steps: list[Change], log: dict,
             config: Config) -> bytes:
    when = datetime.fromisoformat(new.manifest["created"])
    if new.rendered is not None:
        joined = _redline_parts(out, old, new, steps, when, _redline_note(log))
        if joined is not None:
            return joined
        new.docx = Path(new.rendered.docx).read_bytes()
    # Built from the Word file itself, so its paragraphs are exactly the record's.
    fresh = read_draft_text(new.docx, config)
    if fresh != new.record:
        steps = align(old.record, fresh)
    return redline_docx(new.docx, fresh, old.record, steps, when, _redline_note(log))


def _redline_parts(out: Storage, old: DraftText, new: DraftText, steps: list[Change], when: datetime,
                   note: str) -> bytes | None:
    """The redline of a draft being published, joined like the draft from its opening and
    pieces: the opening gets the note, and only the paket with changes are marked. None when
    the two drafts do not hold the same paket in the same order (then the whole draft is
    marked at once)."""
    rendered = new.rendered
    runs_old, runs_new = paket_runs(old.record), paket_runs(new.record)
    numbers = [s.number for s in rendered.sections]
    if runs_old is None or runs_new is None or [r[0] for r in runs_old] != [r[0] for r in runs_new] \
            or [r[0] for r in runs_new[1:]] != numbers:
        return None
    front = Path(rendered.front).read_bytes()
    root = re.search(rb"<w:document\b[^>]*>", zipfile.ZipFile(io.BytesIO(front)).read("word/document.xml"))
    words = dict(rendered.words)
    marked_front = front
    for (paket, a0, a1), (_, b0, b1), mine in zip(runs_old, runs_new, _steps_by_run(steps, runs_old, runs_new)):
        local = [Change(s.op, None if s.old is None else s.old - a0, None if s.new is None else s.new - b0,
                        s.segments) for s in mine]
        if paket is None:
            marked_front = redline_docx(front, new.record[b0:b1], old.record[a0:a1], local, when, note)
            continue
        if all(s.op == "equal" for s in mine):
            continue
        section = rendered.sections[numbers.index(paket)]
        sequence = word_sequence([section], words)
        lo, hi, first, end = _touched(sequence, local)
        chunks = redline_markup(root.group(0).decode("utf-8"), [piece["chunks"][k] for piece, k in sequence[lo:hi]],
                                new.record[b0 + first:b0 + end], old.record[a0:a1],
                                [Change(s.op, s.old, None if s.new is None else s.new - first, s.segments)
                                 for s in local if s.new is None or first <= s.new < end], when)
        copies: dict[int, dict] = {}
        for (piece, k), chunk in zip(sequence[lo:hi], chunks):
            copies.setdefault(id(piece), {**piece, "chunks": list(piece["chunks"])})["chunks"][k] = chunk
        for unit in section.units:
            words[unit] = copies.get(id(words[unit]), words[unit])
    names = sorted({n for w in words.values() for n in w["media"]})
    media = dict(zip(names, read_all(out, [f"normalised/media/{name}" for name in names])))
    return join_docx(marked_front, word_sequence(rendered.sections, words), media)


def _steps_by_run(steps: list[Change], runs_old: list[tuple], runs_new: list[tuple]) -> list[list[Change]]:
    """The steps of each run of the records (:func:`paket_runs`), in one pass over them: a
    step is in the run its paragraph of the newer draft is in, a deleted paragraph's in the
    run it was in; a step in no run is in none."""
    groups: list[list[Change]] = [[] for _ in runs_new]
    starts = {"new": [r[1] for r in runs_new], "old": [r[1] for r in runs_old]}
    for step in steps:
        side, at = ("new", step.new) if step.new is not None else ("old", step.old)
        runs = runs_new if side == "new" else runs_old
        i = bisect_right(starts[side], at) - 1  # the last run starting at or before it (an empty opening never)
        if 0 <= i < len(runs) and runs[i][1] <= at < runs[i][2]:
            groups[i].append(step)
    return groups


def _touched(sequence: list[tuple[dict, int]], steps: list[Change]) -> tuple[int, int, int, int]:
    """The pieces of a paket's markup (positions ``lo:hi`` in ``sequence``) that its changes
    touch, and where their paragraphs are in the paket's record (``first:end``): where a changed
    paragraph is, and where a deleted one goes (before the next paragraph of the newer draft,
    else after its last). Only those are marked; the others stay as they are."""
    owners: list[int] = []  # paragraph -> position of the piece of markup it is in
    starts = []
    for i, (piece, k) in enumerate(sequence):
        starts.append(len(owners))
        owners += [i] * len(piece["paragraphs"][k])
    last = owners[-1] if owners else len(sequence) - 1
    touched, waiting = [], False
    for step in steps:
        if step.op == "delete":
            waiting = True
            continue
        if step.op != "equal" or waiting:
            touched.append(owners[step.new])
        waiting = False
    if waiting:
        touched.append(last)
    lo, hi = min(touched), max(touched) + 1
    return lo, hi, starts[lo], starts[hi] if hi < len(starts) else len(owners)


def _redline_note(log: dict) -> str:
    return (f"Jämförelse av utkast {log['to']} ({log.get('to_created') or ''}) med utkast {log['from']} "
            f"({log.get('from_created') or ''}). Skillnaderna visas som spårade ändringar gjorda av "
            f"”utkast”: tillagd text är understruken, borttagen text överstruken.")


def _text_changes(steps: list[Change], old: DraftText, new: DraftText, config: Config) -> list[dict]:
    names = {p.slug: p.short for p in config.registry.partners}
    items = []
    for step in changed(steps):
        p = step_owner(step, old.record, new.record)
        label = " · ".join(x for x in [p.get("piece") or "", names.get(p.get("partner"), ""),
                                       "i en tabell" if p.get("table") else ""] if x)
        items.append({
            "op": step.op, "paket": p.get("paket"), "piece": p.get("piece"), "partner": p.get("partner"),
            "label": label, "level": p.get("level", 0),
            "old": old.record[step.old]["text"] if step.old is not None else None,
            "new": new.record[step.new]["text"] if step.new is not None else None,
            "inserted": [t for o, t in step.segments if o == "+"],
            "deleted": [t for o, t in step.segments if o == "-"],
            "inserted_words": count_words(step.segments, "+"), "deleted_words": count_words(step.segments, "-"),
            "html": segments_html(step.segments),
        })
    return items


def _add_text_counts(log: dict, items: list[dict], compared: bool) -> None:
    if not compared:
        return
    def counts(mine: list[dict]) -> dict:
        return {"paragraphs": len(mine), "inserted_words": sum(i["inserted_words"] for i in mine),
                "deleted_words": sum(i["deleted_words"] for i in mine)}

    for group in log["paket"]:
        group["text"] = counts([i for i in items if i["paket"] == group["number"]])
    log["front"] = {"title": "Inledningen", "text": counts([i for i in items if i["paket"] is None])}
    log["counts"].update(paragraphs=len(items), inserted_words=sum(i["inserted_words"] for i in items),
                         deleted_words=sum(i["deleted_words"] for i in items))
    log["summary"] = summary_sv(log["counts"])


def _groups(log: dict, items: list[dict]) -> list[dict]:
    """The html page's sections: the opening, every paket, then anything outside the paket."""
    groups = []
    for g in log["paket"]:
        groups.append({"title": f"Paket {g['number']}. {g['title']}", "number": g["number"], "log": g,
                       "entries": [i for i in items if i["paket"] == g["number"]]})
    if log["other"]["lines"]:
        groups.append({"title": log["other"]["title"], "number": None, "log": log["other"], "entries": []})
    groups.append({"title": "Inledningen (versionsuppgifter och förteckningen över delrapporter)", "number": None,
                   "log": None, "entries": [i for i in items if i["paket"] is None]})
    return groups


def segments_html(segments) -> Markup:
    """``<ins>``/``<del>`` markup of word-level segments (escaped; line breaks kept)."""
    parts = []
    for op, text in segments:
        body = str(escape(text.replace(OBJECT, ""))).replace("\n", "<br>")
        tag = {"+": "ins", "-": "del"}.get(op)
        parts.append(f"<{tag}>{body}</{tag}>" if tag else body)
    return Markup("".join(parts))


# --- any two drafts (utkast diff) -------------------------------------------------------


def resolve_version(out: Storage, wanted: str) -> str:
    """A published version from its full name, a unique prefix, or ``latest``."""

    if wanted == "latest":
        latest = read_latest(out)
        if not latest:
            raise UtkastError(f"no draft has been published in {out.describe('drafts/')}")
        return latest["version"]
    versions = list_versions(out)
    if wanted in versions:
        return wanted
    found = [v for v in versions if v.startswith(wanted)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UtkastError(f"there is no draft {wanted!r} in {out.describe('drafts/')}")
    raise UtkastError(f"{wanted!r} matches several drafts: {', '.join(found[:5])}")


def compare_versions(out: Storage, config: Config, version_a: str, version_b: str) -> dict:
    """The comparison of draft A with draft B (B's changes since A), written next to B."""
    a, b = resolve_version(out, version_a), resolve_version(out, version_b)
    if a == b:
        raise UtkastError(f"both versions are {a}: choose two different drafts")
    newer = load_draft(out, b, config)
    if newer.manifest.get("changes", {}).get("previous") == a:
        existing = out.read_text(changes_key(b, "json"))
        if existing:
            return json.loads(existing)
    return write_comparison(out, config, load_draft(out, a, config), newer, f"drafts/{b}/{COMPARISON}{a}")


def changes_markdown(result: dict, where: dict[str, str] | None = None) -> str:
    """The changes as Markdown (a Prefect artifact, the command line)."""
    lines = [f"# Ändringar i utkast {result['to']}", ""]
    if result.get("from"):
        lines += [f"Jämfört med utkast {result['from']}: {result['summary']}.", ""]
    else:
        lines += ["Första utkastet.", ""]
    for g in [*result["paket"], result["other"], result.get("front", {"text": {}})]:
        if not g.get("lines") and not g.get("text", {}).get("paragraphs"):
            continue
        title = f"Paket {g['number']}. {g['title']}" if g.get("number") else g["title"]
        lines.append(f"## {title}")
        lines += [f"- {line}" for line in g.get("lines", [])]
        if g.get("text", {}).get("paragraphs"):
            t = g["text"]
            lines.append(f"- Texten: {t['paragraphs']} stycken ändrade, {t['inserted_words']} ord tillagda, "
                         f"{t['deleted_words']} borttagna")
        lines.append("")
    if result.get("text_note"):
        lines += [result["text_note"], ""]
    for fmt, href in (where or {}).items():
        lines.append(f"- {fmt}: {href}")
    return "\n".join(lines).rstrip() + "\n"
