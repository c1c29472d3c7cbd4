"""The build flow end to end on a local inbox: draft, tracker, manifest, incremental rebuild."""

from __future__ import annotations

import json

import pytest
from docx import Document

from tests.builders import make_docx, put


@pytest.fixture
def inbox(tmp_path):
    root = tmp_path / "inbox"
    put(root, "myrorna/1.3 Kvalitet.docx", make_docx(
        ["Myrorna arbetar med kvalitetssäkring i alla butiker."], heading="Kvalitet i butiken"))
    put(root, "stadsmissionen/2.1 Stöd.docx", make_docx(["Stadsmissionen ger stöd och matchning."]))
    put(root, "roda-korset/2.1 Matchning.md", "---\ntitle: Matchning i praktiken\n---\n\nRöda Korset matchar deltagare mot arbetsgivare.\n")
    put(root, "verdandi/4.2 Motiv.txt", "Verdandi driver butiker för att skapa gemenskap i Växjö.".encode("cp1252"))
    put(root, "forum/5.1 April.html", "<h1>Avstämning</h1><p>Mötet i april enades om kriterier.</p><script>alert(1)</script>")
    put(root, "coompanion/3.2 Länken.pdf", b"%PDF-1.4 not accepted")
    return root


def _headings(path):
    return [(p.style.name, p.text) for p in Document(path).paragraphs if p.style.name.startswith("Heading")]


def test_build_publishes_a_draft_with_every_report_under_its_piece(prefect_harness, inbox, tmp_path):
    from flows.build import build_draft

    out = tmp_path / "outputs"
    result = build_draft(inbox=str(inbox), out=str(out), review=False)

    assert result["published"] and result["converted"] == 5
    docx = out / "drafts" / result["version"] / "utkast.docx"
    assert result["draft"]["docx"] == str(docx)
    headings = _headings(docx)
    assert [t for s, t in headings if s == "Heading 1"] == [
        "Paket 1. Verksamheter och arbetsintegration", "Paket 2. Stöd, matchning och handledning",
        "Paket 3. Från arbetspraktik till arbetsmarknaden", "Paket 4. Villkor för att driva verksamheterna",
        "Paket 5. Gemensamma kriterier (kvalitetssäkring och certifiering)"]
    h3 = [t for s, t in headings if s == "Heading 3"]
    assert h3 == ["Myrorna: Kvalitet i butiken", "Stadsmissionen: Stöd", "Röda Korset: Matchning i praktiken",
                  "Verdandi: Motiv", "Forum: Avstämning"]
    text = "\n".join(p.text for p in Document(docx).paragraphs)
    # Each report's text sits after its piece heading and before the next piece.
    assert text.index("2.1 Översiktlig genomgång") < text.index("Röda Korset matchar") < text.index("2.2 Utmaningar")
    assert "skapa gemenskap i Växjö" in text
    assert "alert" not in text

    html = (out / "drafts" / result["version"] / "utkast.html").read_text(encoding="utf-8")
    assert "<script" not in html and "Myrorna arbetar med kvalitetssäkring" in html
    assert (out / "drafts" / result["version"] / "utkast.pdf").read_bytes().startswith(b"%PDF")

    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["missing"] == ["1.1", "1.2", "1.4", "2.2", "2.3", "2.4", "3.1", "3.2", "3.3", "3.4",
                                 "4.1", "4.3", "5.2"]
    assert status["cells"]["coompanion/3.2"]["state"] == "rejected"
    assert "saknas" in (out / "status.html").read_text(encoding="utf-8").lower()
    assert "PDF" in (out / "rejected/coompanion/3.2 Länken.pdf.txt").read_text(encoding="utf-8")

    manifest = json.loads((out / "drafts" / result["version"] / "manifest.json").read_text(encoding="utf-8"))
    assert {i["key"]: i["verdict"] for i in manifest["inputs"]}["coompanion/3.2 Länken.pdf"] == "rejected"
    assert manifest["tools"]["pandoc"].startswith("3.")
    latest = json.loads((out / "drafts/latest.json").read_text(encoding="utf-8"))
    assert latest["version"] == result["version"]
    assert result["version"] in (out / "drafts/index.html").read_text(encoding="utf-8")


def test_unchanged_inbox_converts_nothing_and_one_change_converts_one(prefect_harness, inbox, tmp_path):
    from flows.build import build_draft

    out = str(tmp_path / "outputs")
    first = build_draft(inbox=str(inbox), out=out, review=False, formats=["docx"])
    again = build_draft(inbox=str(inbox), out=out, review=False, formats=["docx"])
    assert again["converted"] == 0 and not again["published"] and again["version"] == first["version"]

    sections = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "outputs" / "sections").glob("paket-*")}
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Ny version om kvalitet."], heading="Kvalitet"))
    third = build_draft(inbox=str(inbox), out=out, review=False, formats=["docx"])
    merged_again = {p.name for p in (tmp_path / "outputs" / "sections").glob("paket-*")
                    if p.stat().st_mtime_ns != sections[p.name]}
    assert merged_again == {"paket-1.md"}  # only the changed report's paket is merged again
    assert third["converted"] == 1 and third["published"] and third["version"] != first["version"]
    text = "\n".join(p.text for p in Document(third["draft"]["docx"]).paragraphs)
    assert "Ny version om kvalitet." in text and "Myrorna arbetar med" not in text


def test_only_chosen_packages_are_built(prefect_harness, inbox, tmp_path):
    from flows.build import build_draft

    result = build_draft(inbox=str(inbox), out=str(tmp_path / "o"), review=False, formats=["docx"], packages=[2, 4])
    h1 = [t for s, t in _headings(result["draft"]["docx"]) if s == "Heading 1"]
    assert h1 == ["Paket 2. Stöd, matchning och handledning", "Paket 4. Villkor för att driva verksamheterna"]


def test_a_draft_too_large_for_the_copying_collector_is_merged_and_rendered_the_same(
        prefect_harness, inbox, tmp_path, monkeypatch):
    """Large drafts merge and render with pandoc compacting its heap (tasks/core/pandoc.py);
    the threshold set to zero puts this small inbox on that path."""
    import tasks.core.pandoc
    from flows.build import build_draft

    monkeypatch.setattr(tasks.core.pandoc, "COMPACT_INPUT_BYTES", 0)
    result = build_draft(inbox=str(inbox), out=str(tmp_path / "o"), review=False, formats=["docx", "html"])
    h3 = [t for s, t in _headings(result["draft"]["docx"]) if s == "Heading 3"]
    assert h3 == ["Myrorna: Kvalitet i butiken", "Stadsmissionen: Stöd", "Röda Korset: Matchning i praktiken",
                  "Verdandi: Motiv", "Forum: Avstämning"]
    html = (tmp_path / "o" / "drafts" / result["version"] / "utkast.html").read_text(encoding="utf-8")
    assert "Röda Korset matchar deltagare mot arbetsgivare." in html
    assert 'id="rubrik-1-1"' in html and 'href="#rubrik-1-1"' in html  # the heading and its entry in the contents


def test_a_run_collects_garbage_rarely_and_still_frees_cycles():
    """:func:`flows.policies.collect_rarely`, called as a build or intake run starts: the
    collector's thresholds are raised once per process, what is loaded by then is left out of
    its passes, and objects that only point at one another are still freed as a run goes on."""
    import gc
    import weakref

    from flows.policies import GC_THRESHOLDS, collect_rarely

    collect_rarely()
    assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() > 0

    class Node:
        pass

    sample = []
    for i in range(300_000):
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        if i % 1000 == 0:
            sample.append(weakref.ref(a))
    del a, b
    assert sum(ref() is not None for ref in sample) < len(sample) / 2
