"""Generated states of the partners' and reviewers' pages (Hypothesis strategies), written
into a real inbox and real outputs the way intake writes them (``build_tracker`` over inbox
files and reports), so a test renders the real page over every state the data allows."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from hypothesis import strategies as st

from tasks.core.config import Config, People, Person
from tasks.core.slots import slot_key
from tasks.intake.inbox import InboxFile
from tasks.intake.normalise import Report
from tasks.intake.tracker import build_tracker, file_ref
from tasks.personal.filenames import shown_keys
from tasks.personal.rules import load_rules
from tasks.storage.local import LocalStorage

SLUG = "myrorna"
YEAR = (date(2026, 3, 1), date(2026, 8, 31))
WORDS = ["Kvalitet", "Översikt", "Stöd", "Roller & struktur", "Vägen <in>", "Motiv \"och\" mål", "Rapport",
         "Intervju 19850101-2382", "Ändrad version", "Sammanfattning", "Ny", "Åsa's text"]
EXTENSIONS = [".docx", ".odt", ".md", ".txt", ".pdf"]
REASONS = ["PDF-filer kan inte läsas in i det gemensamma utkastet eftersom texten inte går att redigera.",
           "Filen är tom (0 byte). Spara rapporten igen och lägg in den på nytt."]


@dataclass
class FileState:
    name: str
    piece: str
    verdict: str  # accepted | rejected | pending (superseded follows: an older accepted one of a piece)
    reason: str = ""


@dataclass
class PartnerState:
    commissioned: list[str]
    today: date
    files: list[FileState]
    reviews: dict[str, object] = field(default_factory=dict)  # piece -> None | "pending" | findings
    personal: dict[str, int] = field(default_factory=dict)  # piece -> names found
    points: dict[str, list[str]] = field(default_factory=dict)  # piece -> reviewers' comments
    coordinator_email: str | None = None


def file_names(pieces: list[str]):
    """File names a partner gives: a piece number first (or not), Swedish words, characters
    that need escaping, sometimes a personal identity number, many extensions."""
    return st.builds(lambda piece, numbered, words, ext: (f"{piece} " if numbered else "") + " ".join(words) + ext,
                     st.sampled_from(pieces), st.booleans(), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
                     st.sampled_from(EXTENSIONS))


@st.composite
def partner_states(draw, config: Config) -> PartnerState:
    pieces = list(config.outline.pieces)
    files, names = [], set()
    for _ in range(draw(st.integers(0, 6))):
        piece = draw(st.sampled_from(pieces))
        name = f"{piece} " + draw(file_names(pieces)).split(" ", 1)[-1]
        if name in names:
            continue
        names.add(name)
        verdict = "rejected" if name.endswith(".pdf") else draw(st.sampled_from(["accepted", "rejected", "pending"]))
        files.append(FileState(name, piece, verdict, draw(st.sampled_from(REASONS)) if verdict == "rejected" else ""))
    delivered = sorted({f.piece for f in files if f.verdict == "accepted"})
    return PartnerState(
        commissioned=draw(st.lists(st.sampled_from(pieces), max_size=4, unique=True)),
        today=draw(st.dates(*YEAR)),
        files=files,
        reviews={p: draw(st.sampled_from([None, "pending", 0, 1, 7])) for p in delivered},
        personal={p: draw(st.sampled_from([0, 0, 2])) for p in delivered},
        points={p: draw(st.lists(st.sampled_from(["Vad menas här?", "Stryk <b>detta</b>.", "Bra!"]), max_size=2))
                for p in delivered},
        coordinator_email=draw(st.sampled_from([None, "heidi.sandberg@samordning.test"])),
    )


def with_state_config(config: Config, state: PartnerState) -> Config:
    """``config`` with the state's commissions and coordinator."""
    paket = [pk.model_copy(update={"pieces": tuple(
        pc.model_copy(update={"commissioned": (SLUG,) if pc.id in state.commissioned else ()}) for pc in pk.pieces)})
        for pk in config.outline.paket]
    coordinator = Person(name="Heidi Sandberg", email=(state.coordinator_email,) if state.coordinator_email else ())
    return dataclasses.replace(config, outline=config.outline.model_copy(update={"paket": tuple(paket)}),
                               people=People(coordinator=coordinator))


def write_partner_state(state: PartnerState, config: Config, inbox_dir: Path, out_dir: Path) -> dict[str, str]:
    """The state in a real inbox and outputs (status.json as intake writes it, feedback.json
    as the harvest does); returns each file's name -> its ref, as the page knows it."""
    inbox, out = LocalStorage(inbox_dir), LocalStorage(out_dir)
    now = time.time()
    for i, f in enumerate(state.files):  # oldest first: the last accepted of a piece wins
        inbox.write(f"{SLUG}/{f.name}", f"{f.name} {i}".encode())
        os.utime(Path(inbox_dir, SLUG, f.name), (now - 600 + i, now - 600 + i))
    entries = {e.key: e for e in inbox.list(f"{SLUG}/")}
    inbox_files, reports = [], {}
    for f in state.files:
        e = entries[f"{SLUG}/{f.name}"]
        if f.verdict == "pending":
            continue
        item = InboxFile(e.key, e.size, e.modified, e.etag, folder=SLUG, name=f.name, partner=SLUG, piece=f.piece,
                         verdict=f.verdict, reason=f.reason or None, reason_code="unsupported_format")
        if f.verdict == "accepted":
            previous = reports.get(slot_key(SLUG, f.piece))
            if previous is not None:
                next(x for x in inbox_files if x.key == previous.source).verdict = "superseded"
            reports[slot_key(SLUG, f.piece)] = Report(SLUG, f.piece, e.key, "0" * 64, "docx", f.name, 800, 1, now,
                                                      "pandoc", "md", "ast")
        inbox_files.append(item)
    reviews = {slot_key(SLUG, p): ({"pending": True} if r == "pending" else
                                   {"findings": r, "html": f"review/{SLUG}/{p}.html"} if r is not None else None)
               for p, r in state.reviews.items()}
    personal = {slot_key(SLUG, p): {"total": n, "phrase": f"{n} namn"} for p, n in state.personal.items() if n}
    shown = shown_keys([f.key for f in inbox_files], load_rules(config.templates, config.registry))
    tracker = build_tracker(inbox_files, reports, config, reviews=reviews, personal=personal, shown=shown,
                            today=state.today)
    out.write("status.json", json.dumps(tracker, ensure_ascii=False).encode())
    points = [{"id": f"p{i}-{j}", "partner": SLUG, "piece": p, "kind": "comment", "kind_sv": "kommentar",
               "author": "Anna Svensson", "text": text, "status": "open"}
              for i, (p, texts) in enumerate(sorted(state.points.items())) for j, text in enumerate(texts)]
    out.write("feedback.json", json.dumps({"points": points, "files": []}, ensure_ascii=False).encode())
    return {name: file_ref(e.key, e.etag) for name, e in ((k.rsplit("/", 1)[-1], e) for k, e in entries.items())}
