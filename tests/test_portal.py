"""The portal's plain functions: personal links, upload names and limits, the form as it
streams in, what a partner's page shows."""

from __future__ import annotations

import json
import os
import stat
import unicodedata

import pytest

from tasks.portal.links import (
    KEY_ENV,
    LINKS_KEY,
    PARTNER,
    REVIEWER,
    LinkError,
    current_link,
    find_link,
    issue_link,
    load_key,
    partner_slug,
    reviewer_name,
)
from tasks.portal.uploads import (
    MB,
    FormReader,
    UploadRefused,
    check_declared_length,
    check_file_name,
    check_room,
    name_with_piece,
    refusal_message,
    store_new,
    store_upload,
)
from tasks.storage.local import LocalStorage
from tests.portal_server import form

PIECES = ("1.1", "1.3", "2.1")


@pytest.fixture
def no_env_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


# --- links ------------------------------------------------------------------------------------


def test_first_invite_makes_a_private_key_file_and_a_link_whose_hash_only_is_stored(tmp_path, no_env_key):
    key_file = tmp_path / ".local" / "portal.key"
    assert load_key(key_file) is None
    key = load_key(key_file, create=True)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert load_key(key_file) == key

    out = LocalStorage(tmp_path / "outputs")
    token, link = issue_link(out, PARTNER, "myrorna", key)

    assert len(token) == 43 and link.generation == 1 and link.folder == "myrorna"
    stored = (tmp_path / "outputs" / LINKS_KEY).read_text(encoding="utf-8")
    assert token not in stored and key.decode() not in stored
    assert find_link(out, token) == link
    again, same = issue_link(out, PARTNER, "myrorna", key)  # invite again: the same link
    assert again == token and same.generation == 1


def test_rotating_stops_the_old_link_at_once(tmp_path, no_env_key):
    out, key = LocalStorage(tmp_path), load_key(tmp_path / "k", create=True)
    old, _ = issue_link(out, PARTNER, "myrorna", key)
    new, link = issue_link(out, PARTNER, "myrorna", key, rotate=True)

    assert new != old and link.generation == 2
    assert find_link(out, old) is None
    assert find_link(out, new).name == "myrorna"


def test_made_up_and_malformed_tokens_find_nothing(tmp_path, no_env_key):
    out, key = LocalStorage(tmp_path), load_key(tmp_path / "k", create=True)
    token, _ = issue_link(out, PARTNER, "myrorna", key)
    for wrong in ["A" * 43, token[:-1], token + "x", "../../status.json", "", token.upper()]:
        assert find_link(out, wrong) is None, wrong


def test_the_current_link_is_made_again_only_with_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "en-lång-hemlig-nyckel-för-testet")
    out = LocalStorage(tmp_path)
    token, _ = issue_link(out, PARTNER, "verdandi", load_key())
    rtoken, _ = issue_link(out, REVIEWER, "Anna Svensson", load_key())

    assert current_link(out, "https://utkast.example.org/", partner="verdandi") == \
        f"https://utkast.example.org/l/{token}/"
    assert current_link(out, "https://u.example.org", reviewer="Anna  Svensson") == f"https://u.example.org/l/{rtoken}/"
    assert current_link(out, "https://u.example.org", partner="forum") is None  # no link yet
    monkeypatch.setenv(KEY_ENV, "en-annan-nyckel")
    assert current_link(out, "https://u.example.org", partner="verdandi") is None  # the key changed
    with pytest.raises(LinkError, match="--rotate"):
        issue_link(out, PARTNER, "verdandi", load_key())
    monkeypatch.delenv(KEY_ENV)
    assert current_link(out, "https://u.example.org", partner="verdandi", key_file=tmp_path / "none") is None


def test_partners_by_slug_or_alias_and_reviewers_by_name(config):
    assert partner_slug(config, "frälsningsarmén") == "fralsningsarmen"
    with pytest.raises(LinkError, match="not a partner"):
        partner_slug(config, "okänd")
    nfd = unicodedata.normalize("NFD", "Åsa Öberg")
    assert reviewer_name(f"  {nfd} ") == "Åsa Öberg"
    for bad in [" ../ ", "a/b", ".dold", "Anna: granskare"]:
        with pytest.raises(LinkError):
            reviewer_name(bad)


def test_a_reviewers_link_writes_into_their_feedback_folder(tmp_path, no_env_key):
    out, key = LocalStorage(tmp_path), load_key(tmp_path / "k", create=True)
    token, link = issue_link(out, REVIEWER, "Anna Svensson", key)
    assert find_link(out, token).folder == "feedback/Anna Svensson"


# --- names and places -------------------------------------------------------------------------


@pytest.mark.parametrize("name, code", [
    ("../x.docx", "path_in_name"), ("a/b.docx", "path_in_name"), ("C:\\x.docx", "path_in_name"),
    ("C:x.docx", "path_in_name"), ("..", "path_in_name"), ("", "no_file"), ("   ", "no_file"), (None, "no_file"),
    ("1.3 Rapport\x07.docx", "control_characters"), ("1.3\nRapport.docx", "control_characters"),
    ("1.3 \u202eRapport.docx", "control_characters"), (".gömd.docx", "hidden_name"), ("~$1.3 Rapport.docx", "hidden_name"),
])
def test_names_with_paths_or_control_characters_are_refused_not_changed(name, code):
    with pytest.raises(UploadRefused) as info:
        check_file_name(name)
    assert info.value.code == code
    assert refusal_message(info.value)  # a Swedish sentence for every refusal


def test_names_are_made_safe_and_keep_their_extension():
    assert check_file_name('1.3 Kvalitet: "slutlig"?.docx') == "1.3 Kvalitet_ _slutlig__.docx"
    nfd = unicodedata.normalize("NFD", "2.1 Stöd och matchning.docx")
    assert check_file_name(nfd) == "2.1 Stöd och matchning.docx"
    long = check_file_name("1.3 " + "Lång rapport " * 30 + ".docx")
    assert len(long) <= 150 and long.endswith(".docx") and long.startswith("1.3 Lång rapport")
    assert check_file_name("1.3 Rapport 📎.docx") == "1.3 Rapport 📎.docx"


def test_the_chosen_piece_starts_the_name_unless_the_name_carries_one():
    assert name_with_piece("Kvalitet.docx", "1.3", PIECES) == "1.3 Kvalitet.docx"
    assert name_with_piece("1.3 Kvalitet.docx", "1.3", PIECES) == "1.3 Kvalitet.docx"
    assert name_with_piece("Kvalitet.docx", "", PIECES) == "Kvalitet.docx"
    with pytest.raises(UploadRefused) as info:
        name_with_piece("2.1 Stöd.docx", "1.3", PIECES)
    assert refusal_message(info.value) == ("Filnamnet börjar med delrapport 2.1, men du valde 1.3. Välj samma "
                                           "delrapport som i filnamnet, eller lämna valet tomt.")
    assert info.value.field == "delrapport"
    with pytest.raises(UploadRefused, match="unknown_piece"):
        name_with_piece("Kvalitet.docx", "9.9", PIECES)


def test_a_second_upload_of_the_same_name_is_a_new_version(tmp_path):
    inbox = LocalStorage(tmp_path / "inbox")
    source = tmp_path / "upload"
    for n, expected in enumerate(["1.3 Kvalitet.docx", "1.3 Kvalitet (2).docx", "1.3 Kvalitet (3).docx"]):
        source.write_bytes(f"version {n}".encode())
        assert store_new(inbox, "myrorna", "1.3 Kvalitet.docx", source).key == f"myrorna/{expected}"
        assert inbox.read(f"myrorna/{expected}") == f"version {n}".encode()
    assert store_new(inbox, "verdandi", "1.3 Kvalitet.docx", source).key == "verdandi/1.3 Kvalitet.docx"
    assert inbox.read("myrorna/1.3 Kvalitet.docx") == b"version 0"  # never replaced


def test_the_version_search_ends_with_a_swedish_answer(tmp_path, monkeypatch):
    import tasks.portal.uploads as uploads

    monkeypatch.setattr(uploads, "MAX_VERSIONS", 3)
    inbox, source = LocalStorage(tmp_path / "inbox"), tmp_path / "upload"
    source.write_bytes(b"x")
    for _ in range(3):
        store_new(inbox, "myrorna", "Ny.docx", source)
    with pytest.raises(UploadRefused) as info:
        store_new(inbox, "myrorna", "Ny.docx", source)
    assert refusal_message(info.value) == ("Det finns redan 3 filer med det namnet. Ge filen ett nytt namn och "
                                           "ladda upp den igen.")


def test_declared_size_over_the_limit_is_refused_before_reading():
    check_declared_length("1000", 1000)
    check_declared_length(None, 1000)  # chunked: counted while streaming instead
    with pytest.raises(UploadRefused) as info:
        check_declared_length(str(30 * 1024 * 1024), 20 * 1024 * 1024)
    assert info.value.status == 413
    assert refusal_message(info.value).startswith("Filen är större än 20 MB")


def test_a_file_that_would_fill_the_folder_past_its_limit_is_refused():
    check_room(used=0, size=500, limit=500)  # exactly full is allowed
    check_room(used=400 * MB, size=100 * MB, limit=500 * MB)
    with pytest.raises(UploadRefused) as info:
        check_room(used=int(499.2 * MB), size=MB, limit=500 * MB)
    assert info.value.status == 413 and info.value.field == "fil"
    assert refusal_message(info.value) == (
        "Filen får inte plats: du har redan lämnat 500 MB och gränsen är 500 MB. Kontakta samordnaren, "
        "som kan ta bort gamla versioner eller höja gränsen.")


def test_no_refusal_speaks_of_folders_inboxes_or_runs():
    """What a partner or reviewer reads when a file is refused: their words, not the system's."""
    from tasks.portal.uploads import REFUSALS

    from tests.test_portal_pages import jargon_in

    assert {code: jargon_in(text) for code, text in REFUSALS.items() if jargon_in(text)} == {}


# --- the form as it streams in ------------------------------------------------------------------


def _feed(body: bytes, ctype: str, limit: int, step: int = 7):
    reader = FormReader(ctype, limit)
    try:
        for i in range(0, len(body), step):
            reader.feed(body[i:i + step])
        received = reader.finish()
        return received, received.path.read_bytes()
    finally:
        reader.close()


def test_the_form_is_read_in_small_pieces_into_a_private_file(tmp_path):
    data = os.urandom(5000)
    body, ctype = form({"delrapport": "1.3"}, "Kvalitet i butiken.docx", data)
    received, stored = _feed(body, ctype, limit=10_000)
    assert received.fields == {"delrapport": "1.3"}
    assert received.filename == "Kvalitet i butiken.docx" and received.size == 5000 and stored == data

    inbox = LocalStorage(tmp_path)
    reader = FormReader(ctype, 10_000)
    reader.feed(body)
    key = store_upload(inbox, "myrorna", reader.finish(), "1.3", PIECES, 10_000).key
    reader.close()
    assert key == "myrorna/1.3 Kvalitet i butiken.docx" and inbox.read(key) == data
    assert not received.path.exists() and not reader.received.path.exists()  # temporary files removed


def test_a_file_over_the_limit_is_refused_as_it_streams_in():
    body, ctype = form({}, "stor.docx", b"x" * 2000)
    with pytest.raises(UploadRefused, match="too_large"):
        _feed(body, ctype, limit=1000)


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_a_half_sent_form_is_refused(cut):
    body, ctype = form({}, "1.3 Halv.docx", b"y" * 500)
    reader = FormReader(ctype, 10_000)
    reader.feed(body[:int(len(body) * cut)])
    with pytest.raises(UploadRefused, match="broken_form"):
        reader.finish()
    reader.close()


def test_a_form_without_a_file_or_with_an_empty_file_is_refused():
    for body_ctype, code in [(form({"delrapport": "1.3"}), "no_file"), (form({}, "tom.docx", b""), "empty_file"),
                             ((b"not a form", "text/plain"), "broken_form")]:
        with pytest.raises(UploadRefused) as info:
            _feed(*body_ctype, limit=1000)
        assert info.value.code == code


def test_a_path_in_the_sent_name_is_seen_not_stripped():
    body, ctype = form({}, "C:\\Users\\anna\\1.3 Rapport.docx", b"z")
    received, _ = _feed(body, ctype, limit=100)
    assert received.filename == "C:\\Users\\anna\\1.3 Rapport.docx"
    with pytest.raises(UploadRefused, match="path_in_name"):
        check_file_name(received.filename)


# --- what the partner's page shows -----------------------------------------------------------


def test_partner_view_shows_only_their_own_files_with_verdicts(tmp_path, config):
    from tasks.intake.tracker import file_ref
    from tasks.portal.pages import partner_view

    inbox, out = LocalStorage(tmp_path / "inbox"), LocalStorage(tmp_path / "outputs")
    inbox.write("myrorna/1.3 Kvalitet.docx", b"a")
    inbox.write("myrorna/bilaga.pdf", b"b")
    inbox.write("verdandi/4.2 Motiv.md", b"c")
    ref = {e.key: file_ref(e.key, e.etag) for e in inbox.list()}
    out.write("status.json", json.dumps({
        "generated": 4102444800.0,  # after the files were written
        "cells": {"myrorna/1.3": {"partner": "myrorna", "piece": "1.3", "state": "received",
                                  "source": "myrorna/1.3 Kvalitet.docx", "ref": ref["myrorna/1.3 Kvalitet.docx"],
                                  "review": None},
                  "verdandi/4.2": {"partner": "verdandi", "piece": "4.2", "state": "received",
                                   "source": "verdandi/4.2 Motiv.md", "ref": ref["verdandi/4.2 Motiv.md"],
                                   "review": None}},
        "rejected": [{"key": "myrorna/bilaga.pdf", "ref": ref["myrorna/bilaga.pdf"], "partner": "myrorna",
                      "piece": None, "reason": "PDF-filer kan inte läsas."}]}).encode())

    view = partner_view(inbox, out, config, "myrorna")

    assert {f["name"]: f["text"] for f in view["files"]} == {
        "1.3 Kvalitet.docx": "mottagen som delrapport 1.3", "bilaga.pdf": "avvisad: PDF-filer kan inte läsas."}
    assert [(m["id"], m["state_sv"]) for m in view["mine"]] == [("1.3", "mottagen")]
    assert len(view["open_pieces"]) == 16  # nobody has delivered them (the tracker lists no piece as received)
    assert [r["key"] for r in view["unplaced"]] == ["myrorna/bilaga.pdf"]


def test_pieces_a_partner_is_commissioned_for_are_theirs_with_due_date_and_late(tmp_path):
    import shutil
    from datetime import date

    from tasks.core.config import default_templates, load_config
    from tasks.portal.pages import partner_view

    templates = tmp_path / "templates"
    shutil.copytree(default_templates(), templates)
    outline = (templates / "outline.toml").read_text(encoding="utf-8")
    outline = outline.replace('id = "2.2"\n', 'id = "2.2"\n  commissioned = ["myrorna"]\n', 1)
    (templates / "outline.toml").write_text(outline, encoding="utf-8")
    config = load_config(templates)
    due = config.outline.due("2.2")
    inbox, out = LocalStorage(tmp_path / "inbox"), LocalStorage(tmp_path / "outputs")

    before = partner_view(inbox, out, config, "myrorna", today=due)
    (mine,) = before["mine"]
    assert (mine["id"], mine["state_sv"], mine["late"]) == ("2.2", "saknas", False)
    assert before["open_pieces"] == []  # only their own pieces are theirs to deliver
    assert before["deadline"] == {"date": "30 juni 2026", "late": False, "done": False}
    after = partner_view(inbox, out, config, "myrorna", today=date.fromordinal(due.toordinal() + 1))
    assert after["mine"][0]["state_sv"] == "försenad" and after["deadline"]["late"]
    assert partner_view(inbox, out, config, "verdandi", today=due)["mine"] == []  # not theirs
