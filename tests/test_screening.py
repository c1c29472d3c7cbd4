"""Screening decides a file's real type and refuses risky files before any parser runs."""

from __future__ import annotations

import io
import zipfile

import pytest

from tasks.core.errors import (
    ArchiveTooLarge,
    CorruptFile,
    EmptyFile,
    EncryptedDocument,
    FileTooLarge,
    MacroDocument,
    UnsafeContent,
    UnsupportedFormat,
)
from tasks.intake.reasons import explain
from tasks.intake.screening import decode_text, piece_from_name, screen_file
from tests.builders import make_docx, rezip


@pytest.fixture(scope="module")
def limits(config):
    return config.settings.limits


def test_docx_is_accepted_with_piece_and_title_from_properties(limits):
    s = screen_file("rapport.docx", make_docx(["Hej"], title="Kvalitet", subject="Delrapport 1.3"), limits)
    assert (s.kind, s.piece_hint, s.title) == ("docx", "1.3", "Kvalitet")


def test_docx_comments_are_kept_as_metadata(limits):
    s = screen_file("a.docx", make_docx(["Vi arbetar med second hand."], comment_on="second hand"), limits)
    assert s.comments == [{"author": "Granskare", "date": s.comments[0]["date"], "text": "Kolla detta"}]


@pytest.mark.parametrize("name, data, error, words", [
    ("tom.docx", b"", EmptyFile, "tom"),
    ("text.docx", "Det här är bara text.".encode(), UnsupportedFormat, "innehåller vanlig text"),
    ("rapport.pdf", b"%PDF-1.7\n...", UnsupportedFormat, "PDF"),
    ("gammal.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, UnsupportedFormat, ".docx"),
    ("bild.docx", b"\x89PNG\r\n\x1a\n" + b"\0" * 50, UnsupportedFormat, "bild"),
    ("arkiv.zip", b"PK\x05\x06" + b"\0" * 18, UnsupportedFormat, "komprimerat arkiv"),
])
def test_refused_files_get_a_swedish_reason(limits, name, data, error, words):
    with pytest.raises(error) as caught:
        screen_file(name, data, limits)
    assert words in explain(caught.value)


def test_encrypted_word_file_is_refused(limits):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 100
    with pytest.raises(EncryptedDocument) as caught:
        screen_file("hemlig.docx", ole, limits)
    assert "lösenord" in explain(caught.value)


def test_truncated_docx_is_corrupt(limits):
    data = make_docx(["Hej hej"])
    with pytest.raises(CorruptFile) as caught:
        screen_file("trasig.docx", data[: len(data) // 2], limits)
    assert "skadad" in explain(caught.value)


def test_macros_are_refused_by_extension_and_by_content(limits):
    with pytest.raises(MacroDocument):
        screen_file("makro.docm", make_docx(["x"]), limits)
    with pytest.raises(MacroDocument) as caught:
        screen_file("makro.docx", rezip(make_docx(["x"]), add={"word/vbaProject.bin": b"\0" * 64}), limits)
    assert "makron" in explain(caught.value)


def test_zip_bomb_is_refused_while_inflating(limits):
    from dataclasses import replace

    small = replace(limits, max_expanded_bytes=2 * 1024 * 1024)
    bomb = rezip(make_docx(["x"]), add={"word/media/big.bin": b"\0" * (3 * 1024 * 1024)})
    assert len(bomb) < 100_000  # tiny on disk ...
    with pytest.raises(ArchiveTooLarge) as caught:  # ... refused as it inflates past the limit
        screen_file("bomb.docx", bomb, small)
    assert "packas upp till mer än 2 MB" in explain(caught.value)


def test_doctype_in_a_docx_part_is_refused(limits):
    data = make_docx(["x"])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        body = z.read("word/document.xml")
    evil = body.replace(b"?>", b'?><!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>', 1)
    with pytest.raises(UnsafeContent):
        screen_file("xxe.docx", rezip(data, replace={"word/document.xml": evil}), limits)


def test_size_limit(limits):
    from dataclasses import replace

    with pytest.raises(FileTooLarge) as caught:
        screen_file("stor.txt", b"a" * 2048, replace(limits, max_file_bytes=1024))
    assert "för stor" in explain(caught.value)


@pytest.mark.parametrize("raw, encoding", [
    ("Smörgåsbord på är åtta".encode("utf-8"), "utf-8"),
    ("Smörgåsbord på är åtta".encode("cp1252"), "windows-1252"),
    ("Smörgåsbord på är åtta".encode("utf-16"), "utf-16"),
    ("Smörgåsbord på är åtta".encode("utf-16-le"), "utf-16-le"),
])
def test_plain_text_is_decoded(raw, encoding):
    assert decode_text(raw) == ("Smörgåsbord på är åtta", encoding)


@pytest.mark.parametrize("name, piece", [
    ("1.3 Kvalitet.docx", "1.3"),
    ("P1.3-kvalitet.docx", "1.3"),
    ("Paket 2.4 Rekrytering.odt", "2.4"),
    ("paket_5_1.md", "5.1"),
    ("2024-05 rapport.docx", None),
    ("rapport 1.3.docx", None),
    ("13 saker.docx", None),
])
def test_piece_from_file_name(name, piece):
    assert piece_from_name(name) == piece


def test_markdown_front_matter_gives_the_piece(limits):
    s = screen_file("motiv.md", "---\ndelrapport: 4.2\ntitle: Motiv\n---\n\nText.\n".encode(), limits)
    assert (s.kind, s.piece_hint, s.title) == ("md", "4.2", "Motiv")


def test_a_document_of_too_many_parts_is_refused_for_that_reason(limits):
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(make_docx(["Hej"]))) as source, zipfile.ZipFile(buf, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        for i in range(limits.max_archive_entries + 1):
            target.writestr(f"word/media/bit{i}.bin", b"x")
    with pytest.raises(ArchiveTooLarge) as info:
        screen_file("1.3 Många delar.docx", buf.getvalue(), limits)
    reason = explain(info.value)
    assert reason.startswith("Filen består av ") and " delar, " in reason
    assert f"fler än de {limits.max_archive_entries} som ett dokument får ha" in reason
    assert "packas upp till mer än" not in reason  # not the reason for a zip bomb
