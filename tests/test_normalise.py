"""Normalise: pandoc turns each accepted file into canonical Markdown under its piece."""

from __future__ import annotations

from tasks.intake.inbox import scan_inbox
from tasks.intake.normalise import Converted, convert_files
from tasks.storage.local import LocalStorage
from tasks.storage.state import ScreeningMemory
from tests.builders import make_docx, put, rezip


def _convert(tmp_path, config, key, data):
    inbox = tmp_path / "inbox"
    put(inbox, key, data)
    storage = LocalStorage(inbox)
    files = [f for f in scan_inbox(storage, config, ScreeningMemory()) if f.verdict == "accepted"]
    assert len(files) == 1, [f.reason for f in files]
    return convert_files(storage, files, config)[key]


def test_docx_structure_survives_and_headings_are_shifted(tmp_path, config):
    data = make_docx(["Inledande stycke om second hand."], heading="Vår rapport",
                     subheadings={"Bakgrund": ["Verksamheten startade 2015."]},
                     bullets=["handledning", "matchning"], table=[["År", "Deltagare"], ["2023", "41"]],
                     image=True)
    result = _convert(tmp_path, config, "myrorna/1.3 Kvalitet.docx", data)
    assert isinstance(result, Converted)
    md = result.markdown
    assert result.title == "Vår rapport"
    assert "#### Bakgrund" in md  # the report's top level lands under the partner heading
    assert "Verksamheten startade 2015." in md
    assert "- handledning" in md and "- matchning" in md and "41" in md
    assert "![](../media/" in md and len(result.images) == 1
    assert result.words > 10


def test_tracked_changes_are_accepted_and_comments_kept_out(tmp_path, config):
    data = make_docx(["Texten är klar."], comment_on="klar")
    document = _docx_part(data, "word/document.xml")
    ins = (b'<w:ins w:id="90" w:author="A" w:date="2026-03-01T00:00:00Z"><w:r><w:t xml:space="preserve"> '
           b'Insatt mening.</w:t></w:r></w:ins><w:del w:id="91" w:author="A" w:date="2026-03-01T00:00:00Z">'
           b'<w:r><w:delText>Struken mening.</w:delText></w:r></w:del></w:p>')
    document = document.replace(b"</w:p>", ins, 1)
    result = _convert(tmp_path, config, "myrorna/1.3 K.docx", rezip(data, replace={"word/document.xml": document}))
    assert "Insatt mening." in result.markdown
    assert "Struken mening." not in result.markdown
    assert "Kolla detta" not in result.markdown


def test_latin1_text_is_decoded(tmp_path, config):
    text = "Vi har åtta deltagare i Växjö.\n\nDe får stöd av handledare."
    result = _convert(tmp_path, config, "verdandi/2.3 Validering.txt", text.encode("cp1252"))
    assert "Vi har åtta deltagare i Växjö." in result.markdown


def test_html_scripts_iframes_and_local_images_are_dropped(tmp_path, config):
    html = ("<html><body><h1>Titel</h1><p>Synlig text.</p><script>alert('x')</script>"
            "<iframe src='http://127.0.0.1:9/'></iframe><img src='file:///etc/passwd' alt='bild'>"
            "<p><a href='javascript:alert(1)'>länk</a></p></body></html>")
    result = _convert(tmp_path, config, "forum/3.2 Länken.html", html)
    md = result.markdown
    assert "Synlig text." in md
    for bad in ("script", "alert", "iframe", "file://", "passwd", "javascript"):
        assert bad not in md
    assert result.images == {}


def test_a_file_pandoc_cannot_read_is_a_rejection_not_a_crash(tmp_path, config):
    from tasks.core.errors import Rejected

    data = make_docx(["x"])
    broken = rezip(data, replace={"word/document.xml": b"<w:document>not xml"})
    result = _convert(tmp_path, config, "myrorna/1.1 Trasig.docx", broken)
    assert isinstance(result, Rejected)


def _docx_part(data: bytes, name: str) -> bytes:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(name)
