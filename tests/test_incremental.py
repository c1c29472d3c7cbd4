"""A change costs what it touches: a build after one report changed renders that report's
pieces and compares its paket only, and what it publishes is what a cold build of the same
inbox publishes; a build with nothing changed does nothing (plain functions and the flow)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from docx import Document

from tests.builders import make_docx, put

REPORTS = {
    "myrorna/1.3 Kvalitet.docx": make_docx(["Myrorna arbetar med kvalitetssäkring i alla butiker.",
                                            "Kvaliteten följs upp varje månad."], heading="Kvalitet i butiken",
                                           bullets=["handledning", "matchning"]),
    "stadsmissionen/1.3 Kvalitet.md": "# Kvalitet\n\nStadsmissionen mäter kvalitet med enkäter.[^1]\n\n"
                                      "[^1]: Enkäten skickades till 40 butiker.\n",
    "stadsmissionen/2.1 Stöd.docx": make_docx(["Stadsmissionen ger stöd och matchning."], image=True,
                                              table=[["År", "Deltagare"], ["2024", "41"]]),
    "roda-korset/2.1 Matchning.md": "# Matchning\n\n1. Kartläggning\n2. Praktik\n\nSe [länken](https://example.org).\n",
    "verdandi/4.2 Motiv.txt": "Verdandi driver butiker för att skapa gemenskap.\n\nDeltagaren Anna Svensson (811218-9876) "
                              "berättar om sin praktik.\n",
    "forum/5.1 April.md": "# Avstämning\n\nMötet i april enades om kriterier.\n",
}


@pytest.fixture
def inbox(tmp_path):
    root = tmp_path / "inbox"
    for key, data in REPORTS.items():
        put(root, key, data)
    return root


def _draft(out: Path, version: str) -> Path:
    return out / "drafts" / version


def _content(path: Path) -> dict[str, bytes]:
    """A Word file's parts as the reader sees them (the date pandoc stamps in core.xml aside)."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def _without_version(data: bytes, *versions: str) -> bytes:
    """The draft as it is whenever it was made: its version and the minute it was made left out."""
    for v in versions:
        data = data.replace(v.encode(), b"V")
    return re.sub(rb"kl\. \d{1,2}\.\d{2}", b"kl. T", data)


def _piece_writes(out: Path) -> set[str]:
    return {p.name for p in (out / "cache" / "draft").glob("*")}


def test_one_changed_report_renders_its_own_pieces_and_publishes_what_a_cold_build_would(
        prefect_harness, inbox, tmp_path, monkeypatch):
    import tasks.draft.merge
    from flows.build import build_draft

    out = tmp_path / "outputs"
    build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx", "html", "pdf"])
    before = {p: p.stat().st_mtime_ns for p in (out / "cache" / "draft").glob("*")}

    rendered = []
    real = tasks.draft.merge._render_units
    monkeypatch.setattr(tasks.draft.merge, "_render_units",
                        lambda out_, todo, *a, **k: (rendered.append(dict(todo)), real(out_, todo, *a, **k))[1])
    put(inbox, "roda-korset/2.1 Matchning.md", REPORTS["roda-korset/2.1 Matchning.md"] + "\nEtt nytt stycke om praktik.\n")
    second = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx", "html", "pdf"])

    assert second["published"] and second["converted"] == 1
    (todo,) = rendered
    # The changed report (its text) and its paket's frame (the attribution line: a new date) at most.
    kinds = sorted(source["kind"] for source in todo.values())
    assert kinds in (["report"], ["frame", "report"]), kinds
    assert [s["report"].partner for s in todo.values() if s["kind"] == "report"] == ["roda-korset"]
    kept = [p for p, mtime in before.items() if p.exists() and p.stat().st_mtime_ns == mtime]
    assert len(kept) >= len(before) - 3 * len(kinds)  # every other piece kept as it was

    # The changes compare paket 2 only, and say what changed there.
    changes = json.loads((_draft(out, second["version"]) / "andringar.json").read_text(encoding="utf-8"))
    assert {c["paket"] for c in changes["changes"] if c["paket"] is not None} == {2}
    assert any("Ett nytt stycke om praktik." in "".join(c["inserted"]) for c in changes["changes"])
    redline = (_draft(out, second["version"]) / "andringar.docx").read_bytes()
    Document(io.BytesIO(redline))  # opens
    ins = re.findall(rb'<w:ins [^>]*w:author="utkast"[^>]*>.*?</w:ins>', zipfile.ZipFile(io.BytesIO(redline))
                     .read("word/document.xml"), re.S)
    assert any(b"Ett nytt stycke om praktik." in i for i in ins)

    # A cold build of the same inbox publishes the same draft.
    cold_out = tmp_path / "cold"
    cold = build_draft(inbox=str(inbox), out=str(cold_out), review=False, formats=["docx", "html", "pdf"])
    new, fresh = _draft(out, second["version"]), _draft(cold_out, cold["version"])
    versions = (second["version"], cold["version"])
    warm_parts, cold_parts = _content(new / "utkast.docx"), _content(fresh / "utkast.docx")
    assert warm_parts.keys() == cold_parts.keys()
    for name in warm_parts:
        assert _without_version(warm_parts[name], *versions) == _without_version(cold_parts[name], *versions), name
    for name in ("utkast.html", "paragraphs.json"):
        assert _without_version((new / name).read_bytes(), *versions) == \
            _without_version((fresh / name).read_bytes(), *versions), name
    assert (out / "sections/paket-2.md").read_text(encoding="utf-8") == \
        (cold_out / "sections/paket-2.md").read_text(encoding="utf-8")
    # Personal data masked in the draft that was assembled from kept pieces too.
    text = "\n".join(p.text for p in Document(new / "utkast.docx").paragraphs)
    assert "Anna" not in text and "811218-9876" not in text and "[namn borttaget]" in text


def test_a_joined_draft_is_one_valid_word_document_that_holds_every_report(prefect_harness, inbox, tmp_path):
    from lxml import etree

    from flows.build import build_draft
    from tasks.core.config import load_config
    from tasks.core.wordtext import read_draft_text

    out = tmp_path / "outputs"
    result = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    path = _draft(out, result["version"]) / "utkast.docx"
    doc = Document(path)  # opens
    styles = [p.style.name for p in doc.paragraphs]
    assert styles[:3] == ["Title", "Subtitle", "Date"]
    text = "\n".join(p.text for p in doc.paragraphs) + "\n".join(c.text for t in doc.tables for r in t.rows
                                                                 for c in r.cells)
    for phrase in ("Myrorna arbetar med kvalitetssäkring", "Stadsmissionen mäter kvalitet", "41",
                   "Stadsmissionen ger stöd", "Kartläggning", "skapa gemenskap", "enades om kriterier"):
        assert phrase in text, phrase
    with zipfile.ZipFile(path) as z:
        document = etree.fromstring(z.read("word/document.xml"))
        notes = etree.fromstring(z.read("word/footnotes.xml"))
        rels = etree.fromstring(z.read("word/_rels/document.xml.rels"))
        numbering = z.read("word/numbering.xml")
        names = set(z.namelist())
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    r = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    # a table of contents, footnotes that exist, relationships that exist, lists with definitions, the image
    assert document.find(f".//{w}sdt//{w}docPartGallery").get(f"{w}val") == "Table of Contents"
    refs = {e.get(f"{w}id") for e in document.iter(f"{w}footnoteReference")}
    assert refs and refs <= {e.get(f"{w}id") for e in notes.iter(f"{w}footnote")}
    rel_ids = {e.get("Id"): e.get("Target") for e in rels}
    used = {e.get(f"{r}id") for e in document.iter() if e.get(f"{r}id")} | \
        {e.get(f"{r}embed") for e in document.iter() if e.get(f"{r}embed")}
    assert used <= rel_ids.keys()
    assert any(rel_ids[u].startswith("media/") and f"word/{rel_ids[u]}" in names for u in used)
    for num in {e.get(f"{w}val") for e in document.iter(f"{w}numId")}:
        assert f'w:numId="{num}"'.encode() in numbering
    ids = [e.get(f"{w}id") for e in document.iter(f"{w}bookmarkStart")]
    assert len(ids) == len(set(ids))
    assert not list(document.iter(f"{w}commentRangeStart"))
    # the text record read from the file is the one published next to it
    stored = json.loads((path.parent / "paragraphs.json").read_text(encoding="utf-8"))["paragraphs"]
    assert read_draft_text(path.read_bytes(), load_config()) == stored


def test_nothing_changed_means_nothing_to_do_and_any_change_means_a_build(prefect_harness, inbox, tmp_path):
    from datetime import date, timedelta

    from flows.build import build_draft
    from tasks.core.config import load_config
    from tasks.draft.stamp import build_options, unchanged_build
    from tasks.storage.local import LocalStorage

    out = tmp_path / "outputs"
    config = load_config()
    today = date(2026, 5, 4)
    options = build_options(["docx"], None, False, today)
    inbox_store, out_store = LocalStorage(inbox), LocalStorage(out)
    first = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"], today=today)
    same = unchanged_build(inbox_store, out_store, config, options)
    assert same is not None and same["version"] == first["version"] and not same["published"]
    assert same["converted"] == 0 and same["counts"] == first["counts"]
    assert unchanged_build(inbox_store, out_store, config, build_options(["docx", "html"], None, False, today)) is None
    assert unchanged_build(inbox_store, out_store, config, build_options(["docx"], [1], False, today)) is None
    assert unchanged_build(inbox_store, out_store, config, build_options(["docx"], None, True, today)) is None
    # The next day, reminders and "försenad" may change: a build runs.
    tomorrow = build_options(["docx"], None, False, today + timedelta(days=1))
    assert unchanged_build(inbox_store, out_store, config, tomorrow) is None

    (out / "status.html").unlink()  # an output gone: the whole build runs (and writes the tracker)
    assert unchanged_build(inbox_store, out_store, config, options) is None
    again = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"], today=today)
    assert not again["published"] and (out / "status.html").exists()
    assert unchanged_build(inbox_store, out_store, config, options) is not None

    put(inbox, "forum/5.1 April.md", "# Avstämning\n\nMötet i april enades om nya kriterier.\n")
    assert unchanged_build(inbox_store, out_store, config, options) is None
    put(inbox, "feedback/granskare/svar.docx", make_docx(["Synpunkter."]))
    assert unchanged_build(inbox_store, out_store, config, options) is None


def test_a_file_delivered_while_a_build_runs_is_not_called_nothing_new(prefect_harness, inbox, tmp_path):
    """A partner drops a report into the inbox while a build merges the paket (after the build
    read the inbox): that build did not read it, so the next build must not say "nothing new"
    but take the report into the draft."""
    import logging
    from datetime import date

    from flows.build import build_draft
    from tasks.core.config import load_config
    from tasks.draft.stamp import build_options, unchanged_build
    from tasks.storage.local import LocalStorage

    out = tmp_path / "outputs"
    today = date(2026, 5, 4)
    late = "myrorna/2.1 Matchning.md"

    class PartnerDelivers(logging.Handler):
        """Puts the late report into the inbox when the run says it starts merging."""

        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Slår ihop") and not (inbox / late).exists():
                put(inbox, late, "# Matchning\n\nMyrorna matchar deltagare mot praktikplatser.\n")

    handler, runs = PartnerDelivers(), logging.getLogger("prefect.flow_runs")
    level = runs.level
    runs.addHandler(handler)
    runs.setLevel(logging.INFO)  # the tests keep Prefect's logs at WARNING
    try:
        first = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"], today=today)
    finally:
        runs.removeHandler(handler)
        runs.setLevel(level)
    assert (inbox / late).exists(), "the late report was not delivered during the build"

    def text_of(summary: dict) -> str:
        return "\n".join(p.text for p in Document(_draft(out, summary["version"]) / "utkast.docx").paragraphs)

    assert "Myrorna matchar deltagare" not in text_of(first)  # read the inbox before it came

    options = build_options(["docx"], None, False, today)
    assert unchanged_build(LocalStorage(inbox), LocalStorage(out), load_config(), options) is None
    second = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"], today=today)
    assert second["published"] and second["version"] != first["version"]
    assert "Myrorna matchar deltagare mot praktikplatser." in text_of(second)


def _marks(docx: bytes) -> dict[str, list[bytes]]:
    """The redline's tracked changes by "utkast": inserted and deleted text, in order."""
    xml = zipfile.ZipFile(io.BytesIO(docx)).read("word/document.xml")
    found = {}
    for kind in ("ins", "del"):
        found[kind] = [b"".join(re.findall(rb"<w:(?:t|delText)(?: [^>]*)?>([^<]*)<", m))
                       for m in re.findall(rb'<w:%s [^>]*w:author="utkast"[^>]*>(.*?)</w:%s>' % (kind.encode(),
                                                                                            kind.encode()), xml, re.S)]
    return found


def test_the_redline_of_changed_pieces_marks_what_marking_the_whole_draft_marks(prefect_harness, inbox, tmp_path):
    """Edits, an added and a removed paragraph, and a withdrawn report (its paket's last):
    marking only the pieces they touch gives the changes marking the whole draft gives."""
    from datetime import datetime

    from flows.build import build_draft
    from tasks.core.config import load_config
    from tasks.core.wordtext import read_draft_text
    from tasks.roundtrip.compare import align
    from tasks.roundtrip.redline import redline_docx

    out = tmp_path / "outputs"
    first = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(
        ["Myrorna arbetar med kvalitetssäkring i nästan alla butiker.", "Ett helt nytt stycke."],
        heading="Kvalitet i butiken", bullets=["handledning", "matchning"]))
    (inbox / "forum/5.1 April.md").unlink()
    second = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    new_dir, old_dir = _draft(out, second["version"]), _draft(out, first["version"])
    redline = (new_dir / "andringar.docx").read_bytes()
    assert json.loads((new_dir / "andringar.json").read_text(encoding="utf-8"))["problems"] == {}

    config = load_config()
    old = json.loads((old_dir / "paragraphs.json").read_text(encoding="utf-8"))["paragraphs"]
    new = json.loads((new_dir / "paragraphs.json").read_text(encoding="utf-8"))["paragraphs"]
    whole = redline_docx((new_dir / "utkast.docx").read_bytes(), new, old, align(old, new),
                         datetime.fromisoformat("2026-07-25T10:00:00+02:00"), "not")
    assert _marks(redline) == _marks(whole)
    assert any(b"Ett helt nytt stycke." in i for i in _marks(redline)["ins"])
    assert any(b"enades om kriterier" in d for d in _marks(redline)["del"])
    Document(io.BytesIO(redline))  # opens
    assert read_draft_text(redline, config)[5:] == read_draft_text(whole, config)[5:]  # the note apart
