"""What changed between two drafts (plain functions, no Prefect): the Swedish changelog per
paket, the page with insertions and deletions, and choosing drafts by version, prefix or
``latest``. Drafts are published in tmp from Word files built in code."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from docx import Document
from hypothesis import given
from hypothesis import strategies as st
from docx.oxml.ns import qn

from tasks.core.errors import UtkastError
from tasks.draft.catalogue import change_links, publish
from tasks.draft.render import Rendered
from tasks.roundtrip.changes import _steps_by_run, compare_versions, load_draft, resolve_version, write_comparison
from tasks.roundtrip.compare import Change, changelog
from tasks.storage.local import LocalStorage

A, B, C = "20260725-100000-aaaaaa", "20260725-110000-bbbbbb", "20260726-090000-cccccc"
PDF_REASON = "PDF-filer kan inte läsas in i det gemensamma utkastet. Skicka rapporten som Word-dokument (.docx)."


def report(partner: str, piece: str, title: str, sha256: str, version: int = 1) -> dict:
    return {"partner": partner, "piece": piece, "title": title, "sha256": sha256, "version": version}


def rejected(key: str, piece: str | None, reason: str = PDF_REASON) -> dict:
    return {"key": key, "partner": key.split("/")[0], "piece": piece, "verdict": "rejected", "reason": reason}


def manifest(version: str, reports: list[dict], inputs: list[dict] = (), previous: str | None = None) -> dict:
    """The parts of a draft's manifest.json that the changes are made from."""
    day, clock = version[6:8].lstrip("0"), f"{version[9:11]}.{version[11:13]}"
    return {"version": version, "created": f"2026-07-{version[6:8]}T{version[9:11]}:{version[11:13]}:00+02:00",
            "created_sv": f"{day} juli 2026 kl. {clock}", "fingerprint": version[-6:] * 10,
            "formats": {"docx": f"drafts/{version}/utkast.docx"}, "reports": reports, "inputs": list(inputs),
            "missing": [], "changes": {"previous": previous}}


OLD = manifest(A, [report("myrorna", "1.3", "Kvalitet", "a1"), report("forum", "5.1", "Avstämning", "f1"),
                   report("verdandi", "3.1", "Vägen", "v1")],
               [rejected("verdandi/2.2 Gammal.pdf", "2.2")])
NEW = manifest(B, [report("myrorna", "1.3", "Kvalitet", "a2", version=2), report("verdandi", "3.1", "Vägen", "v1"),
                   report("stadsmissionen", "1.1", "Butiker", "s1")],
               [rejected("verdandi/2.2 Gammal.pdf", "2.2"), rejected("myrorna/1.4 Roller.pdf", "1.4"),
                rejected("myrorna/anteckningar.docx", None, "Börja filnamnet med delrapportens nummer.")],
               previous=A)


def test_changelog_says_per_paket_what_is_new_updated_and_withdrawn_and_keeps_rejected_files_apart(config):
    log = changelog(OLD, NEW, config)

    lines = {g["number"]: g["lines"] for g in log["paket"]}
    assert lines[1] == ["Ny: 1.1 Butiker (Stadsmissionen, version 1)",
                        "Uppdaterad: 1.3 Kvalitet (Myrorna, version 2)"]
    assert lines[5] == ["Borttagen: 5.1 Avstämning (Forum)"]
    assert lines[2] == [] and lines[3] == [] and lines[4] == []  # unchanged, and rejected before
    assert log["other"]["lines"] == []  # a partner's rejected file is not the reviewers' reading
    assert [r["file"] for r in log["paket"][0]["rejected"]] == ["1.4 Roller.pdf"]  # still known to the data
    assert log["counts"]["rejected"] == 2
    assert (log["from"], log["to"]) == (A, B)
    assert log["summary"] == "delrapporter: 1 ny, 1 uppdaterad, 1 borttagen"


def test_the_first_draft_has_only_new_reports(config):
    log = changelog(None, OLD, config)

    assert log["from"] is None
    assert {g["number"]: g["lines"] for g in log["paket"]}[1] == ["Ny: 1.3 Kvalitet (Myrorna, version 1)"]
    assert log["summary"] == "delrapporter: 3 nya, 0 uppdaterade, 0 borttagna"


# --- drafts published in tmp ---------------------------------------------------------------


def draft_docx(sections: list[tuple[str, str, str, list[str]]]) -> bytes:
    """A draft as utkast writes it: paket, piece and partner headings, then the report's text."""
    doc = Document()
    doc.add_paragraph("Redovisningsunderlag för en framtida genomförandeansökan")
    paket = None
    for heading, piece, partner, paragraphs in sections:
        if heading != paket:
            doc.add_heading(heading, level=1)
            paket = heading
        doc.add_heading(piece, level=2)
        doc.add_heading(partner, level=3)
        for text in paragraphs:
            doc.add_paragraph(text)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


P1, P5 = "Paket 1. Verksamheter och arbetsintegration", "Paket 5. Avstämningsmöten"
OLD_DOCX = draft_docx([
    (P1, "1.3 Utmaningar och förbättringsförslag för kvalitetssäkring", "Myrorna: Kvalitet",
     ["Myrorna arbetar i alla butiker.", "Det här stycket tas bort."]),
    (P5, "5.1 Avstämningsmöte april", "Forum: Avstämning", ["Vi stämde av i april."]),
])
NEW_DOCX = draft_docx([
    (P1, "1.1 Översiktlig genomgång", "Stadsmissionen: Butiker", ["Stadsmissionen driver <b>tolv</b> butiker."]),
    (P1, "1.3 Utmaningar och förbättringsförslag för kvalitetssäkring", "Myrorna: Kvalitet",
     ["Myrorna arbetar i nästan alla butiker."]),
])


def publish_draft(tmp_path: Path, out: LocalStorage, meta: dict, docx: bytes) -> None:
    folder = tmp_path / "rendered" / meta["version"]
    folder.mkdir(parents=True)
    (folder / "utkast.docx").write_bytes(docx)
    publish(out, Rendered(meta["version"], 0.0, {"docx": folder / "utkast.docx"}), meta)


@pytest.fixture
def out(tmp_path):
    store = LocalStorage(tmp_path / "out")
    publish_draft(tmp_path, store, OLD, OLD_DOCX)
    publish_draft(tmp_path, store, NEW, NEW_DOCX)
    return store


class Page(HTMLParser):
    """Text per section of a page (by ``id``), and the text inside ``<ins>``, ``<del>`` and any other tag."""

    def __init__(self, html: str):
        super().__init__()
        self.sections, self.marked, self.tags, self._open, self._section = {}, {"ins": [], "del": []}, [], None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "section":
            self._section = dict(attrs)["id"]
            self.sections[self._section] = ""
        elif self._section and tag in ("h2", "h3", "li", "p", "div"):  # blocks are read apart
            self.sections[self._section] += "\n"
        if tag in self.marked:
            self._open = tag
            self.marked[tag].append("")

    def handle_endtag(self, tag):
        if tag == self._open:
            self._open = None

    def handle_data(self, data):
        if self._section:
            self.sections[self._section] += data
        if self._open:
            self.marked[self._open][-1] += data


def tracked(docx: bytes) -> list[tuple[str, str]]:
    body = Document(io.BytesIO(docx)).element.body
    return [(el.tag.rsplit("}", 1)[1], "".join(t.text or "" for t in el.iter(qn("w:t"), qn("w:delText"))))
            for el in body.iter(qn("w:ins"), qn("w:del"))]


def test_the_comparison_page_marks_what_was_added_and_removed(tmp_path, out, config):
    result = compare_versions(out, config, A, B)

    base = tmp_path / "out/drafts" / B / f"jamforelse-{A}"
    assert result["files"] == {"json": f"drafts/{B}/jamforelse-{A}.json", "html": f"drafts/{B}/jamforelse-{A}.html",
                               "docx": f"drafts/{B}/jamforelse-{A}.docx"}
    html = Path(f"{base}.html").read_text(encoding="utf-8")
    page = Page(html)
    assert f"Ändringar i utkast {B}" in html and f"Jämfört med utkast {A} (25 juli 2026 kl. 10.00)" in html
    paket1, paket5 = " ".join(page.sections["paket-1"].split()), " ".join(page.sections["paket-5"].split())
    assert "Nya 1.1 Butiker (Stadsmissionen, version 1)" in paket1
    assert "Uppdaterade 1.3 Kvalitet (Myrorna, version 2)" in paket1
    assert "Roller.pdf" not in html  # a partner's rejected file is not shown to reviewers
    assert "Borttagna 5.1 Avstämning (Forum)" in paket5
    assert "nästan " in page.marked["ins"] and "Stadsmissionen driver <b>tolv</b> butiker." in page.marked["ins"]
    assert "Det här stycket tas bort." in page.marked["del"] and "Vi stämde av i april." in page.marked["del"]
    assert "b" not in page.tags  # a partner's text is shown, never run as markup
    assert "1.3 · Myrorna · ändrat stycke" in paket1
    # The same as data, and as Word tracked changes.
    data = json.loads(Path(f"{base}.json").read_text(encoding="utf-8"))
    assert data["text_compared"] is True and data["counts"]["paragraphs"] == len(data["changes"])
    edit = next(c for c in data["changes"] if c["op"] == "edit")
    assert (edit["piece"], edit["partner"], edit["inserted"]) == ("1.3", "myrorna", ["nästan "])
    assert ("ins", "nästan ") in tracked(Path(f"{base}.docx").read_bytes())
    assert ("del", "Det här stycket tas bort.") in tracked(Path(f"{base}.docx").read_bytes())


def test_the_first_draft_has_nothing_to_compare_its_text_with(tmp_path, out, config):
    result = write_comparison(out, config, None, load_draft(out, A, config), f"drafts/{A}/andringar")

    html = (tmp_path / f"out/drafts/{A}/andringar.html").read_text(encoding="utf-8")
    assert "Det första utkastet, skapat 25 juli 2026 kl. 10.00." in html
    assert "det finns inget tidigare utkast att jämföra texten med" in html
    assert "Myrorna arbetar" not in html  # no text changes are shown
    assert result["text_compared"] is False and "docx" not in result["files"]
    assert not (tmp_path / f"out/drafts/{A}/andringar.docx").exists()


def test_a_version_is_found_by_name_prefix_or_latest(tmp_path, out, config):
    publish_draft(tmp_path, out, manifest(C, []), draft_docx([]))
    (tmp_path / "out/drafts/20260727-080000-dddddd").mkdir()  # an interrupted build: no manifest

    assert resolve_version(out, "latest") == C
    assert resolve_version(out, B) == B
    assert resolve_version(out, "20260726") == C
    assert resolve_version(out, "20260725-11") == B
    with pytest.raises(UtkastError, match="matches several drafts"):
        resolve_version(out, "20260725")
    for unknown in ("20260727", "2099"):
        with pytest.raises(UtkastError, match="there is no draft"):
            resolve_version(out, unknown)
    with pytest.raises(UtkastError, match="both versions are"):
        compare_versions(out, config, "latest", "20260726")


def test_latest_without_any_draft_is_refused(tmp_path):
    with pytest.raises(UtkastError, match="no draft has been published"):
        resolve_version(LocalStorage(tmp_path / "empty"), "latest")


def test_change_links_point_each_draft_at_its_changes_and_comparisons(tmp_path, out, config):
    compare_versions(out, config, A, B)
    (tmp_path / f"out/drafts/{B}/andringar.html").write_text("<p>Ändringar</p>", encoding="utf-8")

    links = change_links(out, "drafts/index.html")

    assert set(links) == {B}
    assert unquote(links[B]["changes"]["html"]) == f"{B}/andringar.html"
    (comparison,) = links[B]["comparisons"]
    assert comparison["from"] == A
    assert {fmt: unquote(href) for fmt, href in comparison.items() if fmt != "from"} == {
        "html": f"{B}/jamforelse-{A}.html", "docx": f"{B}/jamforelse-{A}.docx"}
    for href in (links[B]["changes"]["html"], comparison["html"], comparison["docx"]):
        assert (tmp_path / "out/drafts" / unquote(href)).is_file()


@st.composite
def _runs_and_steps(draw):
    """Two records' runs as paket_runs gives them (an opening, maybe empty, then paket in
    order), and steps that point anywhere, inside them or not."""
    def runs(sizes):
        out, at = [], 0
        for paket, size in enumerate(sizes):
            out.append((paket or None, at, at + size))
            at += size
        return out, at
    count = draw(st.integers(1, 5))
    old, n_old = runs([draw(st.integers(0, 4))] + [draw(st.integers(1, 6)) for _ in range(count)])
    new, n_new = runs([draw(st.integers(0, 4))] + [draw(st.integers(1, 6)) for _ in range(count)])
    steps = [Change(draw(st.sampled_from(["equal", "edit", "insert", "delete"])), o, n)
             for o, n in draw(st.lists(st.tuples(st.one_of(st.none(), st.integers(-1, n_old + 1)),
                                                 st.one_of(st.none(), st.integers(-1, n_new + 1))),
                                       max_size=40))
             if o is not None or n is not None]
    return old, new, steps


@given(_runs_and_steps())
def test_steps_go_to_the_paket_whose_paragraph_they_change(case):
    old, new, steps = case
    expected = [[s for s in steps if (s.new is not None and b0 <= s.new < b1) or (s.new is None and a0 <= s.old < a1)]
                for (_, a0, a1), (_, b0, b1) in zip(old, new)]
    assert _steps_by_run(steps, old, new) == expected
