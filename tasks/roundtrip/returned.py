"""One returned file: screened, matched to the published draft it came from, and its
comments and tracked changes placed as review points with stable ids.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from tasks.core.config import Config
from tasks.core.errors import (
    CorruptFile,
    FileTooLarge,
    HiddenFile,
    NoReviewerFolder,
    NotADraft,
    NotWordFeedback,
    Rejected,
    UnsafeName,
)
from tasks.core.formats import hidden
from tasks.core.wordtext import Returned, normalise, read_draft_text, read_returned
from tasks.draft.catalogue import list_versions
from tasks.intake.reasons import explain
from tasks.intake.screening import screen_file
from tasks.roundtrip.compare import similarity
from tasks.storage.base import Entry, Storage, UnsafeKey, check_key

READER = "1"
# Share of a returned file's paragraphs that must be found in a draft for it to be that draft.
MATCH_SHARE = 0.5
# A changed paragraph is still "the same" paragraph at this similarity (by words).
NEAR_SIMILARITY = 0.6
VERSION_HINT = re.compile(r"\b(\d{8}-\d{6}-[0-9a-f]{6})\b")



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
            f.reject(Rejected.from_saved(code, detail, facts), config)
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
    if hidden(f.key.split("/")):
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


