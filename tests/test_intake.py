"""Intake: every file gets a verdict, the newest per piece wins, originals are untouched."""

from __future__ import annotations

import hashlib

from tasks.intake.inbox import Arrivals, arrived_since, rejection_key, rejection_text, scan_inbox
from tasks.storage.local import LocalStorage
from tasks.storage.state import ScreeningMemory
from tests.builders import make_docx, put


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_file_gets_a_verdict_and_a_reason(tmp_path, config):
    inbox = tmp_path / "inbox"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Text om kvalitet."]), mtime=1000)
    put(inbox, "myrorna/1.3 Kvalitet v2.docx", make_docx(["Ny text om kvalitet."]), mtime=2000)
    put(inbox, "myrorna/anteckningar.docx", make_docx(["Utan nummer."]))
    put(inbox, "Frälsningsarmén/2.1 Stöd.txt", "Stöd och matchning.")
    put(inbox, "okänd-förening/1.1 Översikt.docx", make_docx(["x"]))
    put(inbox, "lös fil.docx", make_docx(["x"]))
    put(inbox, "myrorna/.~lock.1.3 Kvalitet.docx#", "lock")
    put(inbox, "verdandi/3.1 Vägen.pdf", b"%PDF-1.4 ...")
    before = _digest(inbox)

    files = {f.key: f for f in scan_inbox(LocalStorage(inbox), config, ScreeningMemory())}

    assert _digest(inbox) == before  # originals never changed
    assert set(files) == set(before)
    verdicts = {k: f.verdict for k, f in files.items()}
    assert verdicts == {
        "myrorna/1.3 Kvalitet.docx": "superseded",
        "myrorna/1.3 Kvalitet v2.docx": "accepted",
        "myrorna/anteckningar.docx": "rejected",
        "Frälsningsarmén/2.1 Stöd.txt": "accepted",
        "okänd-förening/1.1 Översikt.docx": "rejected",
        "lös fil.docx": "rejected",
        "myrorna/.~lock.1.3 Kvalitet.docx#": "rejected",
        "verdandi/3.1 Vägen.pdf": "rejected",
    }
    assert files["Frälsningsarmén/2.1 Stöd.txt"].partner == "fralsningsarmen"
    assert files["myrorna/1.3 Kvalitet v2.docx"].version == 2
    assert "Börja filnamnet med delrapportens nummer" in files["myrorna/anteckningar.docx"].reason
    assert "hör inte till någon partner" in files["okänd-förening/1.1 Översikt.docx"].reason
    assert "direkt i inkorgen" in files["lös fil.docx"].reason
    assert "PDF" in files["verdandi/3.1 Vägen.pdf"].reason


def test_rejection_note_is_swedish_and_lands_in_the_partner_folder(tmp_path, config):
    inbox = tmp_path / "inbox"
    put(inbox, "verdandi/3.1 Vägen.pdf", b"%PDF-1.4 ...")
    (f,) = scan_inbox(LocalStorage(inbox), config, ScreeningMemory())
    assert rejection_key(f) == "rejected/verdandi/3.1 Vägen.pdf.txt"
    text = rejection_text(f, config)
    assert "Fil: 3.1 Vägen.pdf" in text and "Mapp: Verdandi" in text
    assert "Originalfilen ligger kvar orörd" in text


def test_unchanged_files_are_not_read_again(tmp_path, config, monkeypatch):
    inbox = tmp_path / "inbox"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Text."]))
    storage, state = LocalStorage(inbox), ScreeningMemory()
    scan_inbox(storage, config, state)
    reads = []
    monkeypatch.setattr(storage, "open", lambda key: reads.append(key) or open(inbox / key, "rb"))
    (f,) = scan_inbox(storage, config, state)
    assert f.verdict == "accepted" and reads == []


def test_files_arrived_since_a_scan_are_the_new_and_the_changed_ones(tmp_path, config):
    inbox = tmp_path / "inbox"
    put(inbox, "myrorna/1.3 Kvalitet.md", "# Kvalitet\n\nText.\n")
    put(inbox, "forum/5.1 April.txt", "Mötet i april.")
    store = LocalStorage(inbox)
    files = scan_inbox(store, config, ScreeningMemory())
    assert arrived_since(files, store.list()) == []
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nNy text.\n")  # new
    put(inbox, "forum/5.1 April.txt", "Mötet i april, rättat protokoll.")  # changed
    put(inbox, "feedback/granskare/kommentarer.docx", make_docx(["En kommentar."]))  # not a partner file
    (inbox / "myrorna/1.3 Kvalitet.md").unlink()  # removed: nothing to read
    assert [e.key for e in arrived_since(files, store.list())] == ["forum/5.1 April.txt", "verdandi/4.2 Motiv.md"]


def test_the_review_hands_over_once_a_new_file_has_waited_for_the_next_run(tmp_path, config):
    import os

    inbox = tmp_path / "inbox"
    put(inbox, "myrorna/1.3 Kvalitet.md", "# Kvalitet\n\nText.\n")
    store = LocalStorage(inbox)
    now = [1_000_000.0]
    arrivals = Arrivals(store, scan_inbox(store, config, ScreeningMemory()), after=20, every=2,
                        clock=lambda: now[0])
    now[0] += 5
    assert not arrivals()  # nothing new
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nNy text.\n")
    stored = now[0]
    os.utime(inbox / "verdandi/4.2 Motiv.md", (stored, stored))
    now[0] += 1
    assert not arrivals()  # listed 1 s ago: not listed again yet
    now[0] += 1
    assert not arrivals() and arrivals.first == stored  # seen; the run it starts is not on its way yet
    (inbox / "verdandi/4.2 Motiv.md").unlink()  # from now on only the clock counts
    now[0] = stored + 19.9
    assert not arrivals()
    now[0] = stored + 20
    assert arrivals()  # waited 20 s: hand over
