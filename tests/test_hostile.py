"""A hostile inbox: broken, strange and malicious files. Every file gets the verdict a user
expects, rejected ones a Swedish reason, the run exits 0 with a draft, nothing from outside
the inbox (the canary) reaches any output, and no document makes the pipeline fetch a URL."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
import zipfile
from dataclasses import replace

import pytest
from docx import Document

from tasks.core.errors import UnsafeName
from tasks.intake.inbox import classify_path, rejection_key
from tasks.storage.base import Entry, UnsafeKey, check_key
from tasks.storage.local import LocalStorage
from tasks.storage.state import RunState, ScreeningMemory, save_state
from tests.hostile import (
    CountingServer,
    active_html,
    find_token,
    hostile_cases,
    make_canary,
    write_inbox,
)


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def hostile_run(prefect_harness, tmp_path_factory):
    """One CLI build over the hostile inbox (shared by the tests of this module)."""
    from flows.cli import main

    tmp = tmp_path_factory.mktemp("hostile")
    inbox, out = tmp / "inbox", tmp / "outputs"
    canary = make_canary(tmp / "elsewhere")
    reads = []
    original_open = LocalStorage.open

    def spying_open(self, key):
        reads.append(key)
        return original_open(self, key)

    with CountingServer() as server, pytest.MonkeyPatch.context() as mp:
        all_cases = hostile_cases(canary, server.url)
        # A first draft from the good file alone, so the hostile build also writes the pages
        # that compare two drafts.
        first = [c for c in all_cases if c.key == "coompanion/4.1 Villkor.docx"]
        write_inbox(inbox, first)
        assert main(["build", "--inbox", str(inbox), "--out", str(out), "--no-review", "--formats", "docx,html"]) == 0
        cases = write_inbox(inbox, all_cases)
        before = _digest(inbox)
        mp.setattr(LocalStorage, "open", spying_open)
        printed = io.StringIO()
        handler = logging.StreamHandler(printed)
        logging.getLogger().addHandler(handler)
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                code = main(["build", "--inbox", str(inbox), "--out", str(out), "--no-review"])
        finally:
            logging.getLogger().removeHandler(handler)
        requests = list(server.requests)
    yield {"code": code, "inbox": inbox, "out": out, "canary": canary, "cases": cases,
           "requests": requests, "reads": reads, "before": before, "printed": printed.getvalue()}


def test_the_run_exits_0_and_publishes_a_draft_from_the_good_files(hostile_run):
    assert hostile_run["code"] == 0
    out = hostile_run["out"]
    latest = json.loads((out / "drafts/latest.json").read_text(encoding="utf-8"))
    draft = out / "drafts" / latest["version"]
    text = "\n".join(p.text for p in Document(draft / "utkast.docx").paragraphs)
    html = (draft / "utkast.html").read_text(encoding="utf-8")
    for case in hostile_run["cases"].values():
        if case.verdict == "accepted":
            assert case.text in text, case.key
            assert case.text in html, case.key
    assert (draft / "utkast.pdf").read_bytes().startswith(b"%PDF")


def test_every_file_gets_the_expected_verdict_and_a_swedish_reason(hostile_run):
    out, cases = hostile_run["out"], hostile_run["cases"]
    latest = json.loads((out / "drafts/latest.json").read_text(encoding="utf-8"))
    manifest = json.loads((out / latest["manifest"]).read_text(encoding="utf-8"))
    verdicts = {i["key"]: i for i in manifest["inputs"]}
    assert set(verdicts) == set(cases)
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    codes = {r["key"]: r["reason_code"] for r in status["rejected"]}
    for key, case in cases.items():
        assert verdicts[key]["verdict"] == case.verdict, (key, verdicts[key]["reason"])
        if case.verdict == "rejected":
            assert codes[key] == case.code, key
            assert case.reason in verdicts[key]["reason"], (key, verdicts[key]["reason"])
            notes = [p for p in (out / "rejected").rglob("*.txt")
                     if f"Fil: {key.rsplit('/', 1)[-1]}" in p.read_text(encoding="utf-8")]
            assert len(notes) == 1, key
            note = notes[0].read_text(encoding="utf-8")
            assert "Filen togs inte emot" in note and case.reason in note


def test_the_canary_never_leaks_and_no_document_fetches_a_url(hostile_run):
    assert hostile_run["requests"] == []
    assert find_token(hostile_run["out"], hostile_run["canary"].token) == []
    assert "Draft " in hostile_run["printed"]  # what the command printed and logged ...
    assert hostile_run["canary"].token not in hostile_run["printed"]  # ... holds no secret either


def test_the_oversized_file_is_refused_from_the_listing_without_being_read(hostile_run):
    big = next(k for k, c in hostile_run["cases"].items() if c.code == "too_large")
    assert big not in hostile_run["reads"]
    assert "60 MB; gränsen är 20 MB" in next(
        c for c in json.loads((hostile_run["out"] / "status.json").read_text(encoding="utf-8"))["rejected"]
        if c["key"] == big)["reason"]


def test_originals_are_untouched(hostile_run):
    assert _digest(hostile_run["inbox"]) == hostile_run["before"]


def test_published_pages_carry_no_script_or_external_reference(hostile_run):
    out = hostile_run["out"]
    latest = json.loads((out / "drafts/latest.json").read_text(encoding="utf-8"))
    pages = sorted(out.rglob("*.html"))
    assert {out / latest["formats"]["html"], out / "status.html", out / "drafts/index.html",
            out / "drafts" / latest["version"] / "andringar.html"} <= set(pages)
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert active_html(html) == [], page
    draft_html = (out / latest["formats"]["html"]).read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+)"', draft_html)
    assert all(link.startswith(("#", "https://", "http://", "mailto:")) for link in links), links
    with zipfile.ZipFile(out / latest["formats"]["docx"]) as z:
        rels = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".rels"))
    external = re.findall(r"<Relationship [^>]*TargetMode=\"External\"[^>]*>", rels)
    assert all("relationships/hyperlink" in r and 'Target="http' in r for r in external), external


@pytest.mark.parametrize("key", ["myrorna/../stadsmissionen/1.1 x.docx", "../1.1 x.docx", "myrorna/..",
                                 "/myrorna/1.1 x.docx", "myrorna//1.1 x.docx", "myrorna/./1.1 x.docx",
                                 "myrorna\\..\\1.1 x.docx", "myrorna/1.1 x\x00.docx"])
def test_keys_that_would_leave_the_inbox_are_refused(config, key):
    """Object stores allow such keys (a local folder cannot hold them)."""
    with pytest.raises(UnsafeKey):
        check_key(key)
    with pytest.raises(UnsafeName):
        classify_path(Entry(key, 10, 0.0, "e"), config)


def test_names_a_person_would_use_are_accepted(config):
    for key, partner in [("myrorna/a..b.docx", "myrorna"), ("Frälsningsarmén/1.1 x.docx", "fralsningsarmen"),
                         ("FRALSNINGSARMEN/1.1 x.docx", "fralsningsarmen"),
                         ("myrorna/1.1 Följeslagare 🚀.docx", "myrorna")]:
        assert classify_path(Entry(key, 10, 0.0, "e"), config).partner == partner


def test_rejection_notes_stay_inside_the_rejected_folder(config):
    """A hostile name never steers where its note is written."""
    from tasks.intake.inbox import InboxFile

    for name, folder in [("..", ".."), ("a/../../b", "x"), ("\x00\n.txt", "."), ("." * 300, None)]:
        key = rejection_key(InboxFile(key=name, size=0, modified=0, etag="", name=name, folder=folder))
        check_key(key)
        assert key.startswith("rejected/") and key.count("/") == 2, key


# --- the mechanisms behind the verdicts, one at a time ----------------------------------------


def test_the_canary_search_finds_a_token_wherever_it_hides(tmp_path):
    """The leak check itself: a token inside a docx, a data: URI or a PDF's text is found."""
    import base64

    import typst

    from tests.builders import make_docx

    token = "KANARIETEST1234"
    (tmp_path / "a.docx").write_bytes(make_docx([f"Text {token}"]))
    uri = base64.b64encode(f"<svg>{token}</svg>".encode()).decode()
    (tmp_path / "b.html").write_text(f'<img src="data:image/svg+xml;base64,{uri}">', encoding="utf-8")
    (tmp_path / "c.typ").write_text(f"Hemlig text {token}", encoding="utf-8")
    (tmp_path / "c.pdf").write_bytes(typst.compile(str(tmp_path / "c.typ")))
    (tmp_path / "c.typ").unlink()
    (tmp_path / "d.txt").write_bytes(token.encode("utf-16-le"))
    assert find_token(tmp_path, token) == [
        "a.docx!word/document.xml", "b.html#data-uri", "c.pdf#text", "d.txt"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_dtd_in_any_xml_part_is_refused_whatever_the_part_is_called(config, encoding):
    from tasks.core.errors import UnsafeContent
    from tasks.intake.screening import screen_file
    from tests.builders import make_docx, rezip
    from tests.hostile import docx_part, move_main_part

    data = move_main_part(make_docx(["x"]), "word/main.bin")
    body = docx_part(data, "word/main.bin").decode("utf-8")
    body = body.replace("?>", '?><!DOCTYPE w:document [<!ENTITY e "x">]>', 1)
    if encoding == "utf-16":
        body = body.replace("UTF-8", "UTF-16")
    evil = rezip(data, replace={"word/main.bin": body.encode(encoding)})
    with pytest.raises(UnsafeContent):
        screen_file("1.1 x.docx", evil, config.settings.limits)


def test_markdown_raw_html_is_dropped_not_shown(tmp_path, config):
    from tasks.intake.inbox import scan_inbox
    from tasks.intake.normalise import convert_files
    from tests.builders import put

    put(tmp_path / "in", "forum/4.3 Motiv.md",
        "Synlig text.\n\n<img src=\"file:///etc/passwd\">\n\n<script>alert(1)</script>\n\n"
        "![bild](/etc/passwd)\n\n```{=html}\n<iframe></iframe>\n```\n")
    storage = LocalStorage(tmp_path / "in")
    files = scan_inbox(storage, config, ScreeningMemory())
    md = convert_files(storage, files, config)["forum/4.3 Motiv.md"].markdown
    assert md.split() == ["Synlig", "text.", "bild"]


def test_a_file_removed_after_the_listing_is_skipped_not_a_crash(tmp_path, config):
    from tasks.intake.inbox import scan_inbox
    from tests.builders import make_docx, put

    inbox = tmp_path / "in"
    put(inbox, "myrorna/1.1 Kvar.docx", make_docx(["Kvar."]))
    storage = LocalStorage(inbox)
    listed = list(storage.list()) + [Entry("myrorna/1.2 Borta.docx", 100, 0.0, "gone")]
    storage.list = lambda prefix="": iter(listed)
    files = scan_inbox(storage, config, ScreeningMemory())
    assert [(f.key, f.verdict) for f in files] == [("myrorna/1.1 Kvar.docx", "accepted")]


def test_a_file_replaced_after_screening_is_not_converted_and_is_read_next_run(tmp_path, config):
    """Only screened bytes reach pandoc: a file swapped between screening and conversion
    (a sync client, a partner saving again) is left for the next run, and not remembered
    as a failure."""
    from tasks.intake.inbox import scan_inbox
    from tasks.intake.normalise import (
        apply_conversions,
        convert_files,
        plan_conversions,
    )
    from tests.builders import make_docx, put
    from tests.hostile import zip_bomb_docx

    inbox = tmp_path / "in"
    put(inbox, "myrorna/1.1 Rapport.docx", make_docx(["Första versionen."]))
    storage, out, state = LocalStorage(inbox), LocalStorage(tmp_path / "out"), RunState()
    files = scan_inbox(storage, config, state.screening)
    todo, reports = plan_conversions(files, state.conversions)
    put(inbox, "myrorna/1.1 Rapport.docx", zip_bomb_docx(1024 * 1024))  # swapped after screening
    results = convert_files(storage, todo, config)
    apply_conversions(out, files, todo, results, state.conversions, config, reports,
                      checkpoint=lambda: save_state(out, state))
    (f,) = files
    assert f.verdict == "rejected" and "läses in igen inom kort" in f.reason
    assert state.conversions.failed == {} and reports == {}

    put(inbox, "myrorna/1.1 Rapport.docx", make_docx(["Andra versionen."]))
    files = scan_inbox(storage, config, state.screening)
    todo, reports = plan_conversions(files, state.conversions)
    apply_conversions(out, files, todo, convert_files(storage, todo, config), state.conversions, config, reports,
                      checkpoint=lambda: save_state(out, state))
    assert "Andra versionen." in (tmp_path / "out/normalised/myrorna/1.1.md").read_text(encoding="utf-8")


def test_a_zip_that_lies_about_its_sizes_is_measured_by_what_it_inflates_to(config):
    """Python's zipfile stops at the declared size (and the checksum matches that prefix);
    pandoc inflates everything. Screening inflates the real stream, so the cap still holds."""
    from tasks.core.errors import ArchiveTooLarge
    from tasks.intake.screening import screen_file
    from tests.hostile import docx_part, zip_bomb_docx

    limits = replace(config.settings.limits, max_expanded_bytes=4 * 1024 * 1024)
    liar = zip_bomb_docx(6 * 1024 * 1024, declared=3000)
    assert len(docx_part(liar, "word/document.xml")) == 3000  # what a trusting reader sees
    with pytest.raises(ArchiveTooLarge):
        screen_file("1.1 Bomb.docx", liar, limits)


def test_yaml_front_matter_never_reaches_pandoc(tmp_path, config):
    """A "billion laughs" in Markdown front matter: read safely by utkast (piece and title),
    and pandoc, whose YAML reader would expand it until the time limit, never sees it."""
    from tasks.intake.inbox import scan_inbox
    from tasks.intake.normalise import Converted, convert_files
    from tests.builders import put
    from tests.hostile import markdown_yaml_bomb

    put(tmp_path / "in", "forum/Motiv.md", markdown_yaml_bomb("Texten efter.", "4.2"))
    storage = LocalStorage(tmp_path / "in")
    (f,) = scan_inbox(storage, config, ScreeningMemory())
    assert (f.verdict, f.piece, f.title_hint) == ("accepted", "4.2", "Alias i massor")
    quick = replace(config, settings=config.settings.model_copy(
        update={"convert": config.settings.convert.model_copy(update={"timeout_seconds": 20})}))
    result = convert_files(storage, [f], quick)[f.key]
    assert isinstance(result, Converted) and result.markdown.strip() == "Texten efter."
