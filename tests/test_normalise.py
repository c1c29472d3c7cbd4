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


# --- Word documents are read with only the styles they use -----------------------------


def _normalise_both_ways(tmp_path, paths: list) -> list[tuple]:
    """Each file through normalise.lua as utkast runs it and with the style slimming off:
    (result, Markdown, AST) per file and way."""
    import json
    import subprocess

    from tasks.core.pandoc import lua_command

    outcomes = []
    for slim in (True, False):
        folder = tmp_path / f"slim-{slim}"
        (folder / "media").mkdir(parents=True)
        jobs = [{"id": str(p), "input": str(p), "format": "docx", "reader": "docx", "shift_to": 4,
                 "out": str(folder / f"{i}.md"), "ast": str(folder / f"{i}.json"), "media_dir": str(folder / "media"),
                 "result": str(folder / f"{i}.result"), "slim": slim} for i, p in enumerate(paths)]
        (folder / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
        subprocess.run(lua_command("normalise.lua", str(folder / "jobs.json")), check=True, timeout=600)
        outcomes.append([tuple((folder / f"{i}.{ext}").read_text(encoding="utf-8")
                               if (folder / f"{i}.{ext}").exists() else None for ext in ("result", "md", "json"))
                         for i in range(len(paths))])
    return outcomes


def test_word_files_read_with_only_their_styles_convert_exactly_as_read_whole(tmp_path):
    """Word's templates define hundreds of styles a report never uses; reading only those it
    uses is faster and must not change a thing (text, headings, list, table, image, title)."""
    made = make_docx(["Inledande stycke."], title="Vår rapport", heading="Rubrik",
                     subheadings={"Bakgrund": ["Verksamheten startade 2015."]}, bullets=["ett", "två"],
                     table=[["År", "Deltagare"], ["2023", "41"]], image=True)
    styles = _docx_part(made, "word/styles.xml")
    commented = rezip(made, replace={"word/styles.xml": styles.replace(b"<w:docDefaults>",
                                                                       b"<!-- x --><w:docDefaults>", 1)})
    paths = []
    for i, data in enumerate([made, commented]):
        paths.append(tmp_path / f"{i}.docx")
        paths[-1].write_bytes(data)
    with_slim, whole = _normalise_both_ways(tmp_path, paths)
    assert with_slim == whole
    assert '"ok":true' in with_slim[0][0] and "Verksamheten startade 2015." in with_slim[0][1]
    assert len(styles) > 65_536  # python-docx's template: large enough to be made smaller, with something to leave out


def test_every_word_file_of_the_corpus_converts_the_same_with_only_its_styles(tmp_path, corpus):
    paths = sorted(corpus.rglob("*.docx"))
    with_slim, whole = _normalise_both_ways(tmp_path, paths)
    differ = [str(p) for p, a, b in zip(paths, with_slim, whole) if a != b]
    assert not differ, differ
