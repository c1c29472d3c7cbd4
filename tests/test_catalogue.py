"""The catalogue of published drafts and the reviewers' page (plain functions, no Prefect):
only complete drafts are listed, ``latest.json`` names the newest complete one, and the page
lists every draft newest first with its downloads and what changed."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from tasks.draft.catalogue import list_versions, publish, read_latest, read_manifest
from tasks.draft.index import write_index
from tasks.draft.manifest import build_manifest, draft_fingerprint, new_version
from tasks.draft.render import Rendered
from tasks.storage.local import LocalStorage
from tests.builders import make_docx, normalise_inbox, put

JULY_25_2026 = 1785000000


def _publish(tmp_path: Path, out: LocalStorage, config, when: float, previous: dict | None = None) -> dict:
    """Publish a draft (docx and html files made in tmp) of what is in ``tmp_path/inbox`` now."""
    files, reports = normalise_inbox(tmp_path / "inbox", tmp_path / "out", config)
    reports = list(reports.values())
    fingerprint = draft_fingerprint(reports, config, ["docx", "html"], None, [])
    version = new_version(fingerprint, when)
    folder = tmp_path / "rendered" / version
    folder.mkdir(parents=True)
    (folder / "utkast.docx").write_bytes(make_docx([f"Utkast {version}."]))
    (folder / "utkast.html").write_text(f"<p>Utkast {version}.</p>", encoding="utf-8")
    rendered = Rendered(version, when, {"docx": folder / "utkast.docx", "html": folder / "utkast.html"})
    manifest = build_manifest(rendered, fingerprint, files, reports, config, previous, {})
    publish(out, rendered, manifest)
    return manifest


@pytest.fixture
def two_drafts(tmp_path, config):
    """A first draft with Myrorna's 1.3, and an hour later a second with it updated and
    Forum's 5.1 new; returns the storage and both manifests."""
    out = LocalStorage(tmp_path / "out")
    put(tmp_path / "inbox", "myrorna/1.3 Kvalitet.docx", make_docx(["Första versionen."]), mtime=JULY_25_2026)
    first = _publish(tmp_path, out, config, JULY_25_2026)
    put(tmp_path / "inbox", "myrorna/1.3 Kvalitet.docx", make_docx(["Andra versionen."]), mtime=JULY_25_2026 + 60)
    put(tmp_path / "inbox", "forum/5.1 Avstämning.md", "# Avstämning\n\nVi stämde av.\n", mtime=JULY_25_2026 + 60)
    second = _publish(tmp_path, out, config, JULY_25_2026 + 3600, previous=first)
    return out, first, second


def test_published_drafts_are_listed_newest_first_and_latest_names_the_newest(tmp_path, two_drafts):
    out, first, second = two_drafts

    assert list_versions(out) == [second["version"], first["version"]]
    assert second["version"] > first["version"]
    latest = read_latest(out)
    assert latest["version"] == second["version"]
    assert latest["manifest"] == f"drafts/{second['version']}/manifest.json"
    assert latest["formats"] == {"docx": f"drafts/{second['version']}/utkast.docx",
                                 "html": f"drafts/{second['version']}/utkast.html"}
    for key in latest["formats"].values():
        assert (tmp_path / "out" / key).is_file()
    assert read_manifest(out, first["version"]) == json.loads(json.dumps(first))
    assert read_manifest(out, "20990101-000000-000000") is None


def test_a_draft_without_a_manifest_is_never_listed_and_latest_stays(tmp_path, config, two_drafts):
    out, first, second = two_drafts

    class ManifestFails(LocalStorage):
        """A storage that goes away just as the manifest is written (a killed build)."""

        def write(self, key, data, content_type=None):
            if key.endswith("/manifest.json"):
                raise OSError("storage went away")
            super().write(key, data, content_type)

    put(tmp_path / "inbox", "verdandi/3.1 Vägen.txt", "Vägen in på arbetsmarknaden.\n", mtime=JULY_25_2026 + 120)
    with pytest.raises(OSError):
        _publish(tmp_path, ManifestFails(tmp_path / "out"), config, JULY_25_2026 + 7200, previous=second)

    half = [p for p in (tmp_path / "out/drafts").iterdir() if p.is_dir() and not (p / "manifest.json").exists()]
    assert len(half) == 1 and (half[0] / "utkast.docx").is_file()  # the formats were written
    assert list_versions(out) == [second["version"], first["version"]]
    assert read_latest(out)["version"] == second["version"]
    write_index(out, config)
    assert half[0].name not in (tmp_path / "out/drafts/index.html").read_text(encoding="utf-8")


def test_no_draft_yet(tmp_path, config):
    out = LocalStorage(tmp_path / "out")

    assert list_versions(out) == [] and read_latest(out) is None
    write_index(out, config)
    assert "Inget utkast har publicerats ännu." in _Page(tmp_path / "out/drafts/index.html").text


class _Page(HTMLParser):
    """The visible text of a page, its sections (``id``, text) and links (text, href)."""

    def __init__(self, path: Path):
        super().__init__()
        self.chunks, self.sections, self.links, self._link = [], [], [], None
        self.feed(path.read_text(encoding="utf-8"))
        self.text = " ".join("".join(self.chunks).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append([attrs.get("id"), ""])
        if tag == "a":
            self._link = ["", attrs.get("href")]

    def handle_endtag(self, tag):
        if tag == "a" and self._link:
            self.links.append((self._link[0], self._link[1]))
            self._link = None

    def handle_data(self, data):
        self.chunks.append(data)
        if self.sections:
            self.sections[-1][1] += data
        if self._link:
            self._link[0] += data


def test_the_reviewers_page_lists_drafts_newest_first_with_downloads_and_changes(tmp_path, config, two_drafts):
    out, first, second = two_drafts
    (tmp_path / "out/drafts" / second["version"] / "andringar.html").write_text("<p>Ändringar</p>", encoding="utf-8")

    assert write_index(out, config) == "drafts/index.html"

    page = _Page(tmp_path / "out/drafts/index.html")
    assert "Utkast för granskning" in page.text
    assert [s[0] for s in page.sections] == [f"v{second['version']}", f"v{first['version']}"]
    newest, oldest = (" ".join(s[1].split()) for s in page.sections)
    assert newest.startswith(f"Senaste utkastet: {second['created_sv']}")
    assert f"Version {second['version']} · 2 delrapporter (2 av 17 delar har kommit in)" in newest
    assert "Nya delrapporter: 5.1 Forum" in newest and "Uppdaterade: 1.3 Myrorna" in newest
    assert f"Ändringar sedan föregående utkast ({first['version']})" in newest
    assert "Senaste utkastet" not in oldest and "Nya delrapporter: 1.3 Myrorna" in oldest
    downloads = [(label, unquote(href)) for label, href in page.links if label.startswith("Ladda ner")]
    assert downloads == [("Ladda ner DOCX", f"{second['version']}/utkast.docx"),
                         ("Ladda ner HTML", f"{second['version']}/utkast.html"),
                         ("Ladda ner DOCX", f"{first['version']}/utkast.docx"),
                         ("Ladda ner HTML", f"{first['version']}/utkast.html")]
    for _, href in downloads:  # relative to the page, and there
        assert (tmp_path / "out/drafts" / href).is_file()
    assert ("på webben", f"{second['version']}/andringar.html") in [(t, unquote(h)) for t, h in page.links]


def test_the_reviewers_page_reads_a_few_lines_per_draft_and_keeps_them_for_older_drafts(tmp_path, config, two_drafts):
    """Each build writes the page anew for every draft there is: it reads each draft's entry
    (drafts/<version>/index-entry.json), not the manifest that lists every report. A draft
    published before the entries were gets its entry from its manifest, once."""
    out, first, second = two_drafts
    write_index(out, config)
    before = _Page(tmp_path / "out/drafts/index.html")
    entries = {v: tmp_path / "out/drafts" / v / "index-entry.json" for v in (first["version"], second["version"])}
    kept = {v: path.read_text(encoding="utf-8") for v, path in entries.items()}

    entries[first["version"]].unlink()  # published by an older utkast
    write_index(out, config)
    assert entries[first["version"]].read_text(encoding="utf-8") == kept[first["version"]]
    (tmp_path / "out/drafts" / first["version"] / "manifest.json").write_text("{ not read again", encoding="utf-8")
    (tmp_path / "out/drafts" / second["version"] / "manifest.json").write_text("{ not read", encoding="utf-8")
    write_index(out, config)

    after = _Page(tmp_path / "out/drafts/index.html")
    assert after.sections == before.sections and after.links == before.links
    assert f"Version {first['version']} · 1 delrapporter" in " ".join(after.sections[1][1].split())
