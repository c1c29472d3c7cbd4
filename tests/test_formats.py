"""One table of accepted formats (tasks/core/formats.py), read by everything that names or checks
one, and one check of names that are never read."""

from __future__ import annotations

import subprocess

import pytest

from tasks.core.formats import (ACCEPTED, DRAFT_FORMATS, accepted_format, accepted_sv, draft_label, draft_mime,
                                hidden, named_extensions, others_sv)
from tasks.core.pandoc import pandoc_path
from tests.builders import make_docx


def test_every_reader_of_the_table_is_one_pandoc_has():
    known = set(subprocess.run([pandoc_path(), "--list-input-formats"], capture_output=True, text=True,
                               check=True).stdout.split())
    for row in ACCEPTED:
        assert row.reader.split("+")[0].split("-")[0] in known, row


def test_the_texts_partners_read_name_the_tables_formats():
    from tasks.intake.reasons import SEND_INSTEAD
    from tasks.notify.messages import ACCEPTED_SV

    assert named_extensions() == [".docx", ".odt", ".rtf", ".md", ".txt", ".html"]
    assert others_sv() == ".odt, .rtf, .md, .txt och .html"
    assert SEND_INSTEAD == ("Skicka rapporten som Word-dokument (.docx) – det fungerar bäst. "
                            "Vi tar också emot .odt, .rtf, .md, .txt och .html.")
    assert ACCEPTED_SV == accepted_sv() == "Word (.docx, helst), OpenDocument (.odt), .rtf, .md, .txt och .html"


def test_the_command_line_and_the_partners_page_offer_the_tables_formats(config, tmp_path, monkeypatch):
    import asyncio

    import httpx

    from flows.cli import parser
    from tasks.portal.app import create_app
    from tasks.portal.links import KEY_ENV, PARTNER, issue_link, load_key
    from tasks.storage.local import LocalStorage

    review = next(a for a in parser()._actions if a.dest == "command").choices["review"]
    (file_arg,) = [a for a in review._actions if a.dest == "file"]
    assert file_arg.help == "a report: .docx .odt .rtf .md .txt .html"

    monkeypatch.setenv(KEY_ENV, "nyckel-för-formattestet-" + "x" * 24)
    (tmp_path / "inbox").mkdir()
    out = LocalStorage(tmp_path / "outputs")
    token, _ = issue_link(out, PARTNER, "myrorna", load_key())
    app = create_app(LocalStorage(tmp_path / "inbox"), out, config)

    async def get(path: str) -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
            return (await client.get(path)).text

    page = asyncio.run(get(f"/l/{token}/"))
    assert 'accept=".docx,.odt,.rtf,.md,.markdown,.txt,.html,.htm"' in page
    assert "Helst ett Word-dokument (.docx); även .odt, .rtf, .md, .txt och .html går bra." in page


@pytest.mark.parametrize("name, data, kind", [
    ("1.1 Rapport.DOCX", make_docx(["Text."]), "docx"),
    ("1.1 Rapport.markdown", "# Rubrik\n\nText.\n".encode(), "md"),
    ("1.1 Rapport.htm", "<p>Text.</p>".encode(), "html"),
    ("1.1 Rapport.txt", "Text på latin-1: åäö.".encode("cp1252"), "txt"),
])
def test_screening_takes_every_extension_of_the_table(config, name, data, kind):
    from tasks.intake.screening import screen_file

    assert accepted_format(name[name.rfind("."):]).kind == kind
    assert screen_file(name, data, config.settings.limits).kind == kind


@pytest.mark.parametrize("parts, expected", [
    (["myrorna", "1.3 Kvalitet.docx"], False),
    (["myrorna", ".1.3 Kvalitet.docx"], True),  # hidden file
    (["myrorna", "~$1.3 Kvalitet.docx"], True),  # Word's lock file
    (["myrorna", ".git", "1.3 Kvalitet.docx"], True),  # in a hidden folder
    (["feedback", "anna", "~$utkast.docx"], True),
    (["1.3 a~$b.docx"], False),
])
def test_hidden_names_are_never_read(parts, expected):
    assert hidden(parts) is expected


def test_a_draft_format_has_one_swedish_name():
    assert [draft_label(f) for f in DRAFT_FORMATS] == ["Word-fil", "PDF", "webbsida"]
    assert draft_label("html", capital=True) == "Webbsida"  # at the start of an e-mail line
    assert draft_mime("pdf") == "application/pdf"  # as stored and as the portal serves it
    assert draft_mime("zip") == "application/octet-stream"  # anything else is only downloaded
    # The settings refuse any other (tests/test_config.py: "draft.formats[1]" in settings.toml).
