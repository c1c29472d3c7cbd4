"""What changed between two drafts: the paragraphs (aligned, edited paragraphs compared
word by word) and the reports (new, updated, withdrawn, rejected), per paket.

Pure functions on the drafts' text records (:func:`tasks.core.wordtext.read_draft_text`) and
manifests; writing the results is :mod:`tasks.roundtrip.changes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from tasks.core.config import Config
from tasks.core.slots import in_outline_order, slot_key
from tasks.core.wordml import OBJECT
from tasks.core.wordtext import normalise
from tasks.draft.manifest import compute_changes

TOKEN = re.compile(r"[\t\n\ufffc]|[^\S\t\n]+|\w+|[^\w\s\ufffc]")
WORD = re.compile(r"\w")
# Two paragraphs of the same owner at least this similar (by words) are one edited paragraph;
# where as many paragraphs replace as many of the same owners, one by one, less is enough.
EDIT_SIMILARITY = 0.5
PARALLEL_SIMILARITY = 0.3

Segment = tuple[str, str]  # ("=" unchanged | "+" inserted | "-" deleted, text)


def tokens(text: str) -> list[str]:
    """Words, runs of spaces, single punctuation marks, tabs, breaks and objects."""
    return TOKEN.findall(text)


def words(text: str) -> list[str]:
    return [t for t in tokens(text) if WORD.search(t)]


def word_diff(old: str, new: str) -> list[Segment]:
    """The differences between two versions of a paragraph, word by word.

    Concatenating the ``=`` and ``+`` segments gives ``new``; the ``=`` and ``-`` ones
    give ``old``.
    """
    a, b = tokens(old), tokens(new)
    segments: list[Segment] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            segments.append(("=", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            segments.append(("-", "".join(a[i1:i2])))
        if j2 > j1:
            segments.append(("+", "".join(b[j1:j2])))
    return _tidy(segments)


def _tidy(segments: list[Segment]) -> list[Segment]:
    """Read like a person's edit: a lone space or punctuation mark left between two changes
    joins them, and each stretch of changes is one deletion followed by one insertion."""
    marked = []
    for k, (op, text) in enumerate(segments):
        between = 0 < k < len(segments) - 1 and segments[k - 1][0] != "=" and segments[k + 1][0] != "="
        if op == "=" and between and not WORD.search(text) and len(text) <= 2:
            marked += [("-", text), ("+", text)]
        else:
            marked.append((op, text))
    tidy: list[Segment] = []
    k = 0
    while k < len(marked):
        if marked[k][0] == "=":
            text = ""
            while k < len(marked) and marked[k][0] == "=":
                text += marked[k][1]
                k += 1
            tidy.append(("=", text))
            continue
        deleted = inserted = ""
        while k < len(marked) and marked[k][0] != "=":
            if marked[k][0] == "-":
                deleted += marked[k][1]
            else:
                inserted += marked[k][1]
            k += 1
        if deleted:
            tidy.append(("-", deleted))
        if inserted:
            tidy.append(("+", inserted))
    return tidy


def similarity(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    if not wa and not wb:
        return 1.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


@dataclass
class Change:
    """One step of the alignment of two drafts' paragraphs."""

    op: str  # equal | edit | insert | delete
    old: int | None  # index in the older record
    new: int | None  # index in the newer record
    segments: list[Segment] = field(default_factory=list)


def owner(p: dict) -> tuple:
    return (p.get("paket"), p.get("piece"), p.get("partner"))


def align(old: list[dict], new: list[dict]) -> list[Change]:
    """Align two text records in document order.

    Unchanged paragraphs are matched first; among the rest, a paragraph of the same owner
    that is similar enough is the edited version of an old one (compared word by word);
    everything else was inserted or deleted whole.
    """
    a = [(owner(p), normalise(p["text"])) for p in old]
    b = [(owner(p), normalise(p["text"])) for p in new]
    steps: list[Change] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            steps += [Change("equal", i, j1 + k) for k, i in enumerate(range(i1, i2))]
        else:
            steps += _pair(old, new, range(i1, i2), range(j1, j2))
    return steps


def paket_runs(record: list[dict]) -> list[tuple[int | None, int, int]] | None:
    """The record as runs of one owner paket: ``(paket, start, end)``, the opening (paket
    None) first; None when it is not laid out that way (a paket in two places)."""
    runs: list[tuple[int | None, int, int]] = []
    for i, p in enumerate(record):
        paket = p.get("paket")
        if runs and runs[-1][0] == paket:
            runs[-1] = (paket, runs[-1][1], i + 1)
            continue
        if any(r[0] == paket for r in runs) or (paket is None and runs):
            return None
        runs.append((paket, i, i + 1))
    if not runs or runs[0][0] is not None:
        runs.insert(0, (None, 0, 0))  # no opening: an empty one
    return runs


def align_by_paket(old: list[dict], new: list[dict]) -> list[Change]:
    """:func:`align`, one paket at a time: paragraphs that are the same at a paket's start
    and end (all of a paket that did not change) are equal without being compared, so a
    change costs the comparison of the paragraphs around it only. Records that are not laid
    out in the same paket are aligned whole."""
    a, b = paket_runs(old), paket_runs(new)
    if a is None or b is None or [r[0] for r in a] != [r[0] for r in b]:
        return align(old, new)
    steps: list[Change] = []
    for (_, a0, a1), (_, b0, b1) in zip(a, b):
        # Paragraphs the same at the start and at the end are equal without being compared
        # (a whole paket, when nothing in it changed); the rest is aligned.
        head = 0
        while a0 + head < a1 and b0 + head < b1 and old[a0 + head] == new[b0 + head]:
            head += 1
        tail = 0
        while a1 - tail > a0 + head and b1 - tail > b0 + head and old[a1 - tail - 1] == new[b1 - tail - 1]:
            tail += 1
        steps += [Change("equal", a0 + k, b0 + k) for k in range(head)]
        for step in align(old[a0 + head:a1 - tail], new[b0 + head:b1 - tail]):
            steps.append(Change(step.op, None if step.old is None else step.old + a0 + head,
                                None if step.new is None else step.new + b0 + head, step.segments))
        steps += [Change("equal", a1 - tail + k, b1 - tail + k) for k in range(tail)]
    return steps


def _pair(old: list[dict], new: list[dict], olds: range, news: range) -> list[Change]:
    """Within a block that differs, keep order and pair similar paragraphs of one owner."""
    steps: list[Change] = []
    parallel = len(olds) == len(news) and all(owner(old[i]) == owner(new[k]) for i, k in zip(olds, news))
    enough = PARALLEL_SIMILARITY if parallel else EDIT_SIMILARITY
    j = news.start
    for i in olds:
        match = None
        for k in range(j, news.stop):
            if owner(new[k]) == owner(old[i]) and similarity(old[i]["text"], new[k]["text"]) >= enough:
                match = k
                break
        if match is None:
            steps.append(Change("delete", i, None, [("-", old[i]["text"])]))
            continue
        steps += [Change("insert", None, k, [("+", new[k]["text"])]) for k in range(j, match)]
        steps.append(Change("edit", i, match, word_diff(old[i]["text"], new[match]["text"])))
        j = match + 1
    steps += [Change("insert", None, k, [("+", new[k]["text"])]) for k in range(j, news.stop)]
    return steps


def changed(steps: list[Change]) -> list[Change]:
    return [s for s in steps if s.op != "equal"]


def step_owner(step: Change, old: list[dict], new: list[dict]) -> dict:
    return new[step.new] if step.new is not None else old[step.old]


def count_words(segments: list[Segment], op: str) -> int:
    return sum(len(words(text.replace(OBJECT, " "))) for o, text in segments if o == op)


# --- which reports changed ------------------------------------------------------------------


def piece_label(piece: str, title: str) -> str:
    """``1.3 Utmaningar …``: the piece and the report's title, once, also when the title
    begins with the piece (a heading "1.3 Utmaningar …", "Delrapport 1.3: …")."""
    rest = re.sub(rf"^\s*(?:(?:del)?rapport\s+|paket\s+|p)?{re.escape(piece)}(?![0-9])[\s.:–—-]*", "", title,
                  flags=re.I)
    return f"{piece} {rest}".rstrip()


def changelog(old_manifest: dict | None, new_manifest: dict, config: Config) -> dict:
    """Reports new, updated, withdrawn and files rejected from one draft to the other
    (:func:`tasks.draft.manifest.compute_changes`), grouped per paket, with Swedish lines
    for people."""
    names = {p.slug: p.short for p in config.registry.partners}
    changes = compute_changes(old_manifest, new_manifest.get("reports", []), new_manifest.get("inputs", []))
    before = {slot_key(r["partner"], r["piece"]): r for r in (old_manifest or {}).get("reports", [])}
    now = {slot_key(r["partner"], r["piece"]): r for r in new_manifest.get("reports", [])}
    inputs = {i["key"]: i for i in new_manifest.get("inputs", [])}

    def item(r: dict, with_version: bool = True) -> dict:
        short = names.get(r["partner"], r["partner"])
        label = f"{piece_label(r['piece'], r['title'])} ({short}" + (f", version {r['version']})" if with_version
                                                                       else ")")
        return {"partner": r["partner"], "partner_short": short, "piece": r["piece"], "title": r["title"],
                "version": r.get("version"), "label": label}

    groups: dict[int | None, dict] = {pk.number: {"number": pk.number, "title": pk.title, "new": [], "updated": [],
                                                  "withdrawn": [], "rejected": []} for pk in config.outline.paket}
    groups[None] = {"number": None, "title": "Utanför paketen", "new": [], "updated": [], "withdrawn": [],
                    "rejected": []}

    def paket_of(piece: str | None) -> int | None:
        return config.outline.pieces[piece].paket if piece in config.outline.pieces else None

    for kind, reports in (("new", now), ("updated", now), ("withdrawn", before)):
        for slot in in_outline_order(changes[kind]):
            r = reports[slot]
            groups[paket_of(r["piece"])][kind].append(item(r, with_version=kind != "withdrawn"))
    for key in sorted(changes["rejected"], key=lambda k: ((inputs[k].get("piece") or "9.9"), k)):
        f = inputs[key]
        who = names.get(f.get("partner"), f.get("partner") or key.split("/")[0])
        name = key.rsplit("/", 1)[-1]
        groups[paket_of(f.get("piece"))]["rejected"].append({
            "key": key, "partner": f.get("partner"), "piece": f.get("piece"), "file": name,
            "reason": f.get("reason") or "",
            "label": f"{name} ({who}): {f.get('reason') or ''}".strip()})
    for g in groups.values():  # what reviewers read: reports; a partner's rejected file is the partner's
        g["lines"] = ([f"Ny: {i['label']}" for i in g["new"]] + [f"Uppdaterad: {i['label']}" for i in g["updated"]]
                      + [f"Borttagen: {i['label']}" for i in g["withdrawn"]])
    counts = {k: sum(len(g[k]) for g in groups.values()) for k in ("new", "updated", "withdrawn", "rejected")}
    return {
        "from": (old_manifest or {}).get("version"), "to": new_manifest["version"],
        "from_created": (old_manifest or {}).get("created_sv"), "to_created": new_manifest.get("created_sv"),
        "paket": [groups[pk.number] for pk in config.outline.paket],
        "other": groups[None],
        "counts": counts,
        "summary": summary_sv(counts),
    }


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def summary_sv(counts: dict) -> str:
    """``2 nya, 1 uppdaterad, 0 borttagna`` (+ text changes when known); rejected files are
    the partners' own business, not the reviewers'."""
    parts = [_n(counts["new"], "ny", "nya"), _n(counts["updated"], "uppdaterad", "uppdaterade"),
             _n(counts["withdrawn"], "borttagen", "borttagna")]
    text = "delrapporter: " + ", ".join(parts)
    if "paragraphs" in counts:
        text += (f"; texten: {_n(counts['paragraphs'], 'stycke', 'stycken')} ändrade, "
                 f"{_n(counts['inserted_words'], 'ord', 'ord')} tillagda, {counts['deleted_words']} borttagna")
    return text
