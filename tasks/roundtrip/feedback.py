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

from tasks.core.config import Config
from tasks.roundtrip.points import (
    DATA_KEY,
    PAGE_KEY,
    STATUS_KEY,
    STATUS_TEMPLATE,
    feedback_data,
    read_statuses,
    render_feedback_html,
    write_feedback_notes,
)
from tasks.roundtrip.returned import (
    READER,
    PublishedTexts,
    assign_ids,
    read_feedback_file,
)
from tasks.storage.base import Storage

FOLDER = "feedback/"  # in the inbox (skipped by the partner intake)
CACHE_KEY = "cache/feedback.json"
# Bump when reading or placing changes, so cached results are read again.
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
    write_feedback_notes(out, files, cache, config)
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


