"""Merge: one section per paket, each report under its piece heading, with personal data
masked (plain functions on a tiny inbox normalised in tmp, no Prefect)."""

from __future__ import annotations

import pytest

from tasks.core.errors import UtkastError
from tasks.draft.merge import merge_sections, section_context, selected_paket
from tasks.storage.local import LocalStorage
from tests.builders import make_docx, normalise_inbox, put

JULY_25_2026 = 1785000000  # 25 juli 2026, Stockholm time


@pytest.fixture
def reports(tmp_path, config):
    inbox = tmp_path / "inbox"
    put(inbox, "forum/1.1 Översikt.md", "# Översikt\n\nForum samordnar de idéburna verksamheterna.\n",
        mtime=JULY_25_2026)
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["En äldre version av texten."]), mtime=JULY_25_2026 - 86400)
    put(inbox, "myrorna/1.3 Kvalitet v2.docx", make_docx(
        ["Deltagaren Anna Svensson (811218-9876) började hos oss i mars.", "Kvaliteten följs upp varje månad."],
        heading="Arbetsträning med deltagaren Anna Svensson"), mtime=JULY_25_2026)
    put(inbox, "stadsmissionen/1.3 Kvalitet.md", "# Kvalitet hos Stadsmissionen\n\nVi mäter kvalitet med enkäter.\n",
        mtime=JULY_25_2026)
    put(inbox, "verdandi/3.1 Vägen.txt", "Vägen in på arbetsmarknaden.\n", mtime=JULY_25_2026)
    _, found = normalise_inbox(inbox, tmp_path / "out", config)
    assert sorted(found) == ["forum/1.1", "myrorna/1.3", "stadsmissionen/1.3", "verdandi/3.1"]
    return list(found.values())


def _piece(section: str, piece: str) -> str:
    """The text of a section from the heading of ``piece`` to the next piece heading."""
    start = section.index(f"\n## {piece} ")
    end = section.find("\n## ", start + 1)
    return section[start:] if end < 0 else section[start:end]


def _unescaped(markdown: str) -> str:
    return markdown.replace("\\[", "[").replace("\\]", "]")


def test_each_report_stands_under_its_piece_in_outline_order(tmp_path, config, reports):
    out = LocalStorage(tmp_path / "out")

    assert [s.number for s in merge_sections(out, reports, config, [1])] == [1]

    section = _unescaped((tmp_path / "out/sections/paket-1.md").read_text(encoding="utf-8"))
    assert section.startswith("# Paket 1. Verksamheter och arbetsintegration\n")
    headings = [line.split()[1] for line in section.splitlines() if line.startswith("## ")]
    assert headings == ["1.1", "1.2", "1.3", "1.4"]
    assert "### Forum: Översikt" in _piece(section, "1.1")
    assert "Forum samordnar de idéburna verksamheterna." in _piece(section, "1.1")
    quality = _piece(section, "1.3")
    # Two partners on one piece: in the registry's order, each with its own attribution line.
    assert quality.index("### Stadsmissionen: Kvalitet hos Stadsmissionen") < quality.index("### Myrorna:")
    assert "*Riksföreningen Sveriges Stadsmissioner, version 1, inkommen 25 juli 2026.*" in quality
    assert "*Myrorna, version 2, inkommen 25 juli 2026.*" in quality
    assert quality.index("Vi mäter kvalitet med enkäter.") < quality.index("### Myrorna:")
    assert quality.index("### Myrorna:") < quality.index("Kvaliteten följs upp varje månad.")
    assert "En äldre version av texten." not in section  # only the newest version is merged
    assert "Vägen in på arbetsmarknaden." not in section  # paket 3 was not asked for
    assert not (tmp_path / "out/sections/paket-3.md").exists()


def test_a_piece_nobody_delivered_is_shown_as_missing(tmp_path, config, reports):
    merge_sections(LocalStorage(tmp_path / "out"), reports, config, [1])

    section = (tmp_path / "out/sections/paket-1.md").read_text(encoding="utf-8")
    for piece in ("1.2", "1.4"):
        assert "*Delrapporten har ännu inte kommit in.*" in _piece(section, piece)
    for piece in ("1.1", "1.3"):
        assert "inte kommit in" not in _piece(section, piece)


def test_personal_data_is_masked_in_the_text_and_in_the_heading(tmp_path, config, reports):
    merge_sections(LocalStorage(tmp_path / "out"), reports, config, [1])

    section = _unescaped((tmp_path / "out/sections/paket-1.md").read_text(encoding="utf-8"))
    assert "### Myrorna: Arbetsträning med deltagaren [namn borttaget]" in section
    assert "Deltagaren [namn borttaget] ([personnummer borttaget]) började hos oss i mars." in section
    assert "Anna" not in section and "Svensson" not in section and "811218-9876" not in section


def test_an_unknown_paket_is_refused_and_nothing_is_written(tmp_path, config, reports):
    with pytest.raises(UtkastError, match=r"unknown paket \[9\]"):
        merge_sections(LocalStorage(tmp_path / "out"), reports, config, [1, 9])
    assert not (tmp_path / "out/sections").exists()


def test_selected_paket_keeps_the_outline_order(config):
    assert [p.number for p in selected_paket(config, None)] == [1, 2, 3, 4, 5]
    assert [p.number for p in selected_paket(config, [])] == [1, 2, 3, 4, 5]
    assert [p.number for p in selected_paket(config, [3, 1])] == [1, 3]
    with pytest.raises(UtkastError, match=r"unknown paket \[0, 6\]"):
        selected_paket(config, [0, 1, 6])


def test_section_context_lists_every_piece_and_its_reports_by_partner(config, reports):
    paket = selected_paket(config, [1])[0]

    context = section_context(paket, [r for r in reports if r.piece.startswith("1.")], config)

    assert context["paket"].number == 1
    pieces = {p["id"]: p for p in context["pieces"]}
    assert list(pieces) == ["1.1", "1.2", "1.3", "1.4"]
    assert pieces["1.2"]["reports"] == [] and pieces["1.4"]["reports"] == []
    assert [r["partner_short"] for r in pieces["1.3"]["reports"]] == ["Stadsmissionen", "Myrorna"]
    assert [r["version"] for r in pieces["1.3"]["reports"]] == [1, 2]
    assert {r["received"] for r in pieces["1.3"]["reports"]} == {"25 juli 2026"}
    assert pieces["1.3"]["reports"][1]["md_key"] == "normalised/myrorna/1.3.md"


def test_the_draft_is_rendered_while_its_pieces_are_read_and_a_lost_piece_stops_the_opening(
        tmp_path, config, reports, monkeypatch):
    """The opening is rendered by pandoc while the reports' pieces are read: the draft still
    holds the opening and every report in order, and when a piece cannot be read the render
    fails with that reason and its pandoc process does not run on."""
    import contextlib
    import subprocess

    from docx import Document

    from tasks.draft import render as render_module
    from tasks.draft.merge import piece_key

    out = LocalStorage(tmp_path / "out")
    sections = merge_sections(out, reports, config, [1], ["docx"])
    started: list[subprocess.Popen] = []

    @contextlib.contextmanager
    def started_lua(*args, **kwargs):
        with real_started(*args, **kwargs) as proc:
            started.append(proc)
            yield proc

    real_started = render_module.started_lua
    monkeypatch.setattr(render_module, "started_lua", started_lua)
    (tmp_path / "a").mkdir()
    rendered = render_module.render_draft(out, sections, reports, config, "v1", JULY_25_2026, ["docx"], tmp_path / "a",
                                          [1])
    text = [p.text for p in Document(rendered.files["docx"]).paragraphs]
    assert text[0] == config.outline.title and text[1].endswith("– utkast v1")  # the opening
    assert text.index("Forum samordnar de idéburna verksamheterna.") < text.index("Vi mäter kvalitet med enkäter.")
    assert started and started[0].returncode == 0

    (tmp_path / "out" / piece_key(sections[0].reports[-1], "word")).unlink()
    (tmp_path / "b").mkdir()
    with pytest.raises(FileNotFoundError) as failed:
        render_module.render_draft(out, sections, reports, config, "v2", JULY_25_2026, ["docx"], tmp_path / "b", [1])
    assert failed.value.filename.endswith(".word.json")
    assert len(started) == 2 and started[1].poll() is not None  # stopped, not left running


def test_a_pandoc_script_that_runs_too_long_is_stopped_at_its_timeout(tmp_path, monkeypatch):
    """run_lua (every merge, render and conversion batch) gives up after its timeout and leaves
    no pandoc process running, as subprocess.run did."""
    import subprocess

    from tasks.core import pandoc

    (tmp_path / "slow.lua").write_text("local t = os.time()\nwhile os.time() - t < 60 do end\n", encoding="utf-8")
    monkeypatch.setattr(pandoc, "LUA", tmp_path)
    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(pandoc.subprocess, "Popen", lambda *a, **k: started.append(real_popen(*a, **k)) or started[-1])
    with pytest.raises(subprocess.TimeoutExpired):
        pandoc.run_lua("slow.lua", timeout=1)
    assert len(started) == 1 and started[0].returncode is not None  # killed and reaped
