"""The August round trip through the build flow: what changed between two drafts built from
real edits, and a reviewer's commented copy coming back to the partners it concerns."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn

from tests.builders import comment_on_words, make_docx, put, track_insertion


def day(n: int) -> float:
    """Noon on the n:th of August 2026 (a file's modification time)."""
    return datetime(2026, 8, n, 12, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def inbox(tmp_path) -> Path:
    root = tmp_path / "inbox"
    put(root, "myrorna/1.3 Kvalitet.docx", make_docx(
        ["Myrorna arbetar med kvalitetssäkring i alla butiker.", "Kvaliteten följs upp varje månad."],
        heading="Kvalitet i butiken"), mtime=day(1))
    put(root, "stadsmissionen/2.1 Stöd.docx", make_docx(["Stadsmissionen ger stöd och matchning."]), mtime=day(1))
    put(root, "verdandi/4.2 Motiv.txt", "Verdandi driver butiker för att skapa gemenskap i Växjö.".encode("cp1252"),
        mtime=day(1))
    return root


def paket_changes(docx: Path) -> list[tuple[str, str]]:
    """Tracked changes (ins|del, text) from the first paket heading on, in document order."""
    body = Document(docx).element.body
    found, started = [], False
    for p in body.iter(qn("w:p")):
        style = p.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")
        text = "".join(t.text or "" for t in p.iter(qn("w:t")))
        if style is not None and style.get(qn("w:val")) == "Heading1" and text.startswith("Paket 1."):
            started = True
        if not started:
            continue
        for el in p.iter(qn("w:ins"), qn("w:del")):
            words = "".join(t.text or "" for t in el.iter(qn("w:t"), qn("w:delText")))
            if words:
                found.append((el.tag.rsplit("}", 1)[1], words))
    return found


def plain_text(docx: Path, *options: str) -> str:
    import subprocess

    from tasks.core.pandoc import pandoc_path

    return subprocess.run([pandoc_path(), "--sandbox", *options, "-t", "plain", "--wrap=none", str(docx)],
                          capture_output=True, text=True, check=True).stdout


def artifact(key: str) -> str:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return max(found, key=lambda a: a.created).data


def test_second_draft_carries_its_changes_as_changelog_redline_and_html(prefect_harness, inbox, tmp_path, capsys):
    from flows.build import build_draft
    from flows.cli import main

    out = tmp_path / "outputs"
    first = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    a = first["version"]
    assert json.loads((out / f"drafts/{a}/andringar.json").read_text(encoding="utf-8"))["paket"][0]["lines"] == [
        "Ny: 1.3 Kvalitet i butiken (Myrorna, version 1)"]

    # A partner replaces a report with an edited version, one report arrives, one is withdrawn.
    put(inbox, "myrorna/1.3 Kvalitet v2.docx", make_docx(
        ["Myrorna arbetar med kvalitetssäkring i nästan alla butiker.", "Kvaliteten följs upp varje månad."],
        heading="Kvalitet i butiken"), mtime=day(3))
    put(inbox, "roda-korset/2.1 Matchning.md",
        "---\ntitle: Matchning i praktiken\n---\n\nRöda Korset matchar deltagare mot arbetsgivare.\n", mtime=day(2))
    (inbox / "verdandi/4.2 Motiv.txt").unlink()
    put(inbox, "forum/3.2 Länken.pdf", b"%PDF-1.4 not accepted", mtime=day(2))
    second = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    b = second["version"]
    base = out / "drafts" / b

    changes = json.loads((base / "andringar.json").read_text(encoding="utf-8"))
    assert changes["from"] == a and changes["to"] == b
    lines = {g["number"]: g["lines"] for g in changes["paket"]}
    assert lines[1] == ["Uppdaterad: 1.3 Kvalitet i butiken (Myrorna, version 2)"]
    assert lines[2] == ["Ny: 2.1 Matchning i praktiken (Röda Korset, version 1)"]
    assert lines[3] == []  # Forum's rejected PDF is Forum's business, not the reviewers'

    assert lines[4] == ["Borttagen: 4.2 Motiv (Verdandi)"]
    assert lines[5] == []

    # The redline: exactly these tracked changes in the paket, by "utkast", dated with the draft.
    redline = base / "andringar.docx"
    assert paket_changes(redline) == [
        ("del", "1"), ("ins", "2"), ("del", "1"), ("ins", "3"),  # Myrorna, version 1 → 2, inkommen 1 → 3 augusti
        ("ins", "nästan "),
        ("ins", "Röda Korset: Matchning i praktiken"),
        ("ins", "Röda Korset, version 1, inkommen 2 augusti 2026."),
        ("ins", "Röda Korset matchar deltagare mot arbetsgivare."),
        ("del", "Verdandi: Motiv"),
        ("del", "Verdandi, version 1, inkommen 1 augusti 2026."),
        ("del", "Verdandi driver butiker för att skapa gemenskap i Växjö."),
        ("ins", "Delrapporten har ännu inte kommit in."),
    ]
    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    created = datetime.fromisoformat(manifest["created"]).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    marks = list(Document(redline).element.body.iter(qn("w:ins"), qn("w:del")))
    assert {m.get(qn("w:author")) for m in marks} == {"utkast"}
    assert {m.get(qn("w:date")) for m in marks} == {created}
    # pandoc reads the redline with every change accepted as the new draft plus the note.
    note = f"Jämförelse av utkast {b} ({manifest['created_sv']}) med utkast {a}"
    accepted = plain_text(redline, "--track-changes=accept")
    assert note in accepted
    assert "\n\n".join(x for x in accepted.split("\n\n") if not x.startswith(note)) == plain_text(base / "utkast.docx")

    html = (base / "andringar.html").read_text(encoding="utf-8")
    assert "<ins>nästan </ins>" in html
    assert "<del>Verdandi driver butiker för att skapa gemenskap i Växjö.</del>" in html
    assert "<script" not in html and "Uppdaterade" in html and "1.3 Kvalitet i butiken (Myrorna, version 2)" in html

    index = (out / "drafts/index.html").read_text(encoding="utf-8")
    assert f'href="{b}/andringar.html"' in index and f'href="{b}/andringar.docx"' in index
    assert f'href="{a}/andringar.html"' not in index  # the first draft has nothing before it
    assert "Uppdaterad: 1.3 Kvalitet i butiken (Myrorna, version 2)" in artifact("andringar-sedan-forra-utkastet")

    # Any two drafts from the command line: a third draft compared with the first.
    (inbox / "roda-korset/2.1 Matchning.md").unlink()
    c = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])["version"]
    capsys.readouterr()
    assert main(["diff", a, c, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"html  {out / 'drafts' / c / f'jamforelse-{a}.html'}" in printed
    assert "- Uppdaterad: 1.3 Kvalitet i butiken (Myrorna, version 2)" in printed
    assert "- Borttagen: 4.2 Motiv (Verdandi)" in printed and "Röda Korset" not in printed
    assert ("ins", "nästan ") in paket_changes(out / "drafts" / c / f"jamforelse-{a}.docx")
    assert f'href="{c}/jamforelse-{a}.html"' in (out / "drafts/index.html").read_text(encoding="utf-8")
    assert main(["diff", "nosuchversion", c, "--out", str(out)]) == 1
    assert "there is no draft 'nosuchversion'" in capsys.readouterr().err


def test_reviewer_comments_come_back_to_the_partners_whose_text_they_touch(prefect_harness, inbox, tmp_path):
    from flows.build import build_draft

    put(inbox, "roda-korset/2.1 Matchning.md",
        "---\ntitle: Matchning i praktiken\n---\n\nRöda Korset matchar deltagare mot arbetsgivare.\n", mtime=day(2))
    out = tmp_path / "outputs"
    first = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])

    # A reviewer comments on words in two partners' sections and on a piece heading, and
    # suggests an insertion with tracked changes; a stranger's document comes along.
    doc = Document(first["draft"]["docx"])
    comment_on_words(doc, "kvalitetssäkring i alla butiker", "Vad menas med kvalitetssäkring här?", "Anna Ek")
    comment_on_words(doc, "ger stöd och matchning", "Beskriv matchningen närmare.", "Anna Ek")
    comment_on_words(doc, "Översiktlig genomgång av hur stöd", "Rubriken är lång.", "Anna Ek")
    track_insertion(doc, "Röda Korset matchar", " snabbt", "Anna Ek")
    (inbox / "feedback/anna").mkdir(parents=True)
    doc.save(inbox / "feedback/anna/utkast med kommentarer.docx")
    put(inbox, "feedback/anna/annat.docx", make_docx(["Ett helt annat dokument om något annat."]))

    second = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    assert not second["published"]  # nothing new in the reports: the points still come in
    data = json.loads((out / "feedback.json").read_text(encoding="utf-8"))
    points = {(p["kind"], p["anchor"] if p["kind"] == "comment" else p["inserted"]): p for p in data["points"]}
    owners = {k: (p["paket"], p["piece"], p["partner"], p["status"]) for k, p in points.items()}
    assert owners == {
        ("comment", "kvalitetssäkring i alla butiker"): (1, "1.3", "myrorna", "open"),
        ("comment", "ger stöd och matchning"): (2, "2.1", "stadsmissionen", "open"),
        ("comment", "Översiktlig genomgång av hur stöd"): (2, "2.1", None, "open"),
        ("insert", "snabbt"): (2, "2.1", "roda-korset", "open"),
    }
    myrorna = points[("comment", "kvalitetssäkring i alla butiker")]
    assert myrorna["text"] == "Vad menas med kvalitetssäkring här?" and myrorna["author"] == "Anna Ek"
    assert myrorna["reviewer"] == "anna" and myrorna["version"] == first["version"]
    assert myrorna["paragraph"] == "Myrorna arbetar med kvalitetssäkring i alla butiker."
    by_partner = {g["partner"]: g["open"] for g in data["by_partner"]}
    assert by_partner == {"stadsmissionen": [points[("comment", "ger stöd och matchning")]["id"]],
                          "roda-korset": [points[("insert", "snabbt")]["id"]],
                          "myrorna": [myrorna["id"]]}
    paket2 = next(g for g in data["by_paket"] if g["number"] == 2)
    assert len(paket2["points"]) == 3

    note = (out / "rejected/feedback/anna/annat.docx.txt").read_text(encoding="utf-8")
    assert "stämmer inte med något publicerat utkast" in note
    page = (out / "feedback/index.html").read_text(encoding="utf-8")
    assert "Vad menas med kvalitetssäkring här?" in page and "Myrorna: 1 öppen punkt" in page
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert {k: c["feedback_open"] for k, c in status["cells"].items() if c.get("feedback_open")} == {
        "myrorna/1.3": 1, "stadsmissionen/2.1": 1, "roda-korset/2.1": 1}
    assert 'title="mottagen, 1 öppen granskningspunkt"' in (out / "status.html").read_text(encoding="utf-8")
    assert "Öppna granskningspunkter" in artifact("oppna-granskningspunkter")

    # The coordinator sets statuses; a mistyped one is reported with file and key, not fatal.
    stadsmissionen = points[("comment", "ger stöd och matchning")]["id"]
    with open(out / "feedback/status.toml", "a", encoding="utf-8") as fh:
        fh.write(f'{myrorna["id"]} = "klar"\n{stadsmissionen} = {{ status = "kanske" }}\n')
    third = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    assert third["version"] == first["version"]
    again = json.loads((out / "feedback.json").read_text(encoding="utf-8"))
    assert {p["id"] for p in again["points"]} == {p["id"] for p in data["points"]}
    assert {p["id"]: p["status"] for p in again["points"]}[myrorna["id"]] == "done"
    assert again["status_problems"] == [
        f"feedback/status.toml: punkter.{stadsmissionen}: okänd status 'kanske'; "
        "använd \"öppen\", \"besvarad\" eller \"klar\""]
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["cells"]["myrorna/1.3"]["feedback_open"] == 0
    assert status["cells"]["stadsmissionen/2.1"]["feedback_open"] == 1


def test_round_trip_over_a_real_bucket(prefect_harness, s3_env):
    """In the shared bucket: the reviewers' page links (presigned) to the changes, the redline
    downloads with its tracked changes, and a commented copy uploaded into feedback/ comes back."""
    import html
    import io
    import re
    import urllib.request

    from flows.build import build_draft

    bucket, client = s3_env.bucket, s3_env.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="roundtrip/"):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    inbox, out = f"s3://{bucket}/roundtrip/inbox", f"s3://{bucket}/roundtrip/outputs"
    client.put_object(Bucket=bucket, Key="roundtrip/inbox/myrorna/1.3 Kvalitet.docx", Body=make_docx(
        ["Myrorna arbetar med kvalitetssäkring i alla butiker."], heading="Kvalitet i butiken"))
    client.put_object(Bucket=bucket, Key="roundtrip/inbox/stadsmissionen/2.1 Stöd.docx",
                      Body=make_docx(["Stadsmissionen ger stöd och matchning."]))
    build_draft(inbox=inbox, out=out, review=False, formats=["docx"])
    client.put_object(Bucket=bucket, Key="roundtrip/inbox/myrorna/1.3 Kvalitet v2.docx", Body=make_docx(
        ["Myrorna arbetar med kvalitetssäkring i nästan alla butiker."], heading="Kvalitet i butiken"))
    second = build_draft(inbox=inbox, out=out, review=False, formats=["docx"])

    def get(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()

    index = get(second["index"]).decode("utf-8")
    links = {label: html.unescape(href) for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', index)}
    assert "<ins>nästan </ins>" in get(links["på webben"]).decode("utf-8")
    redline = Document(io.BytesIO(get(links["i Word med spårade ändringar"])))
    inserted = ["".join(t.text for t in el.iter(qn("w:t"))) for el in redline.element.body.iter(qn("w:ins"))]
    assert "nästan " in inserted

    reviewed = Document(io.BytesIO(get(second["draft"]["docx"])))
    comment_on_words(reviewed, "ger stöd", "Hur då?", "Anna Ek")
    buf = io.BytesIO()
    reviewed.save(buf)
    client.put_object(Bucket=bucket, Key="roundtrip/inbox/feedback/anna/utkast.docx", Body=buf.getvalue())
    build_draft(inbox=inbox, out=out, review=False, formats=["docx"])
    data = json.loads(client.get_object(Bucket=bucket, Key="roundtrip/outputs/feedback.json")["Body"].read())
    assert [(p["partner"], p["piece"], p["text"]) for p in data["points"]] == [("stadsmissionen", "2.1", "Hur då?")]
    status = json.loads(client.get_object(Bucket=bucket, Key="roundtrip/outputs/status.json")["Body"].read())
    assert status["cells"]["stadsmissionen/2.1"]["feedback_open"] == 1


def test_a_reviewers_file_name_with_personal_data_is_shown_masked(tmp_path, config):
    """Returned files are listed on the feedback page every partner reads: their names are
    masked like partners' file names (this one is not a draft, so it is also rejected)."""
    from tasks.roundtrip.feedback import harvest_feedback
    from tasks.storage.local import LocalStorage

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "feedback/Åsa Öberg/Synpunkter 19850101-2382.docx", make_docx(["Inte ett utkast."]))
    data = harvest_feedback(LocalStorage(inbox), LocalStorage(out), config)

    (entry,) = data["files"]
    assert entry["verdict"] == "rejected" and entry["file"] == "Synpunkter [personnummer borttaget].docx"
    # everything but the pipeline's memory and the reviewer's own note (which names their file)
    shown = [p for p in out.rglob("*") if p.is_file() and "cache" not in p.parts and "rejected" not in p.parts]
    assert shown and not any("19850101-2382" in str(p) or "19850101-2382" in p.read_text(encoding="utf-8")
                             for p in shown)
    assert (out / entry["note"]).is_file() and "19850101-2382" not in entry["note"]


def test_a_status_set_while_a_build_runs_is_not_called_nothing_new(prefect_harness, inbox, tmp_path):
    """The coordinator marks a review point "klar" in feedback/status.toml while a build runs,
    after the build read the statuses: that build did not read it, so the next build must not
    say "nothing new" but show the point as klar on the feedback page."""
    import logging
    from datetime import date

    from flows.build import build_draft
    from tasks.core.config import load_config
    from tasks.draft.stamp import build_options, unchanged_build
    from tasks.storage.local import LocalStorage

    out, today = tmp_path / "outputs", date(2026, 8, 20)

    def build() -> dict:
        return build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"], today=today)

    doc = Document(build()["draft"]["docx"])
    comment_on_words(doc, "kvalitetssäkring i alla butiker", "Vad menas med kvalitetssäkring här?", "Anna Ek")
    (inbox / "feedback/anna").mkdir(parents=True)
    doc.save(inbox / "feedback/anna/utkast med kommentarer.docx")
    build()  # the point comes in; feedback/status.toml is written for the coordinator
    point = json.loads((out / "feedback.json").read_text(encoding="utf-8"))["points"][0]["id"]
    status_file = out / "feedback/status.toml"

    def shown() -> str:
        page = (out / "feedback/index.html").read_text(encoding="utf-8")
        return re.search(rf'<code>{point}</code> · <span class="status">([^<]*)</span>', page).group(1)

    class CoordinatorMarks(logging.Handler):
        """Sets the point's status when the run says there is nothing new to publish."""

        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Inget nytt sedan utkast") and point not in status_file.read_text():
                with open(status_file, "a", encoding="utf-8") as fh:
                    fh.write(f'{point} = "klar"\n')

    handler, runs = CoordinatorMarks(), logging.getLogger("prefect.flow_runs")
    level = runs.level
    runs.addHandler(handler)
    runs.setLevel(logging.INFO)  # the tests keep Prefect's logs at WARNING
    try:
        build()
    finally:
        runs.removeHandler(handler)
        runs.setLevel(level)
    assert point in status_file.read_text(encoding="utf-8"), "the coordinator did not set the status during the build"
    assert shown() == "öppen"  # the build had read the statuses before the coordinator's change

    options = build_options(["docx"], None, False, today)
    assert unchanged_build(LocalStorage(inbox), LocalStorage(out), load_config(), options) is None
    build()
    assert shown() == "klar"
    assert unchanged_build(LocalStorage(inbox), LocalStorage(out), load_config(), options) is not None
