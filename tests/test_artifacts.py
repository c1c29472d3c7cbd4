"""What the coordinator sees in the Prefect UI after a build or an intake: the tracker as a
table, links to the draft and the reports, a progress bar and a short summary."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.builders import make_docx, put

LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]*)\)")


def run_artifacts(flow_run_id) -> dict[str, list]:
    """The artifacts of one flow run, by type (read back through the Prefect API)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    by_type: dict[str, list] = {}
    for artifact in found:  # Prefect stores a link artifact as Markdown holding one link
        kind = "link" if artifact.type == "markdown" and LINK.fullmatch(artifact.data) else artifact.type
        by_type.setdefault(kind, []).append(artifact)
    return by_type


@pytest.fixture
def inbox(tmp_path):
    root = tmp_path / "inbox"
    put(root, "myrorna/1.3 Kvalitet.docx", make_docx(["Myrorna arbetar med kvalitet."]), mtime=1000)
    put(root, "verdandi/4.2 Motiv.md", "Verdandi driver butiker för gemenskapens skull.\n", mtime=1000)
    put(root, "coompanion/3.2 Länken.pdf", b"%PDF-1.4 not accepted", mtime=1000)
    put(root, "forum/<b>fet</b>.docx", make_docx(["x"]), mtime=1000)
    return root


def test_a_build_shows_tracker_links_progress_and_summary(prefect_harness, inbox, tmp_path):
    from flows.build import build_draft

    out = tmp_path / "outputs"
    put(out, "review/myrorna/1.3.html", "<p>Språkgranskning</p>")  # a review report, as the review step writes it
    state = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx", "html"], return_state=True)
    result = state.result()
    arts = run_artifacts(state.state_details.flow_run_id)

    (table,) = arts["table"]
    assert table.key == "utkast-tracker"
    rows = {row["Nr"]: row for row in _table_rows(table)}
    assert rows["1.3"]["Status"] == "Myrorna: mottagen" and rows["1.3"]["Inlämnat av"] == "Myrorna"
    assert rows["3.2"]["Status"] == "Coompanion: avvisad"
    assert rows["1.1"]["Status"] == "saknas"

    links = {a.key: a for a in arts["link"]}
    docx = out / "drafts" / result["version"] / "utkast.docx"
    assert _link(links["utkast-draft-docx"]) == docx.as_uri()
    assert Path(unquote(urlparse(_link(links["utkast-draft-docx"])).path)).read_bytes()[:2] == b"PK"
    assert _link(links["utkast-draft-html"]) == (out / "drafts" / result["version"] / "utkast.html").as_uri()
    assert _link(links["utkast-reviewers-page"]) == (out / "drafts/index.html").as_uri()
    assert _link(links["utkast-status-page"]) == (out / "status.html").as_uri()
    review = [a for a in arts["link"] if a.key is None]
    assert [_link(a) for a in review] == [(out / "review/myrorna/1.3.html").as_uri()]

    (progress,) = arts["progress"]
    assert progress.data == 100.0

    summary = next(a for a in arts["markdown"] if a.key == "utkast-summary")
    text = summary.data
    assert summary.key == "utkast-summary"
    assert f"# Utkast {result['version']} publicerat" in text
    assert "**2 av 17 delrapporter har kommit in.**" in text and "Konverterade i den här körningen: 2." in text
    assert "## Det första utkastet\n\n- 1\\.3 Myrorna (ny)\n- 4\\.2 Verdandi (ny)\n" in text
    assert "3\\.2 Länken\\.pdf: " in text and "PDF" in text  # each rejected file with its reason
    assert "<b>" not in text and "\\<b\\>fet" in text  # a partner's file name cannot inject markup
    assert f"\\(Word\\-fil\\)]({docx.as_uri()})" in text


def test_the_summary_says_what_is_new_since_the_last_draft(prefect_harness, inbox, tmp_path):
    from flows.build import build_draft

    out = str(tmp_path / "outputs")
    first = build_draft(inbox=str(inbox), out=out, review=False, formats=["docx"])
    put(inbox, "stadsmissionen/2.1 Stöd.docx", make_docx(["Stadsmissionen ger stöd."]))
    put(inbox, "myrorna/1.3 Kvalitet v2.docx", make_docx(["Ny version."]), mtime=2000)
    (inbox / "verdandi/4.2 Motiv.md").unlink()
    state = build_draft(inbox=str(inbox), out=out, review=False, formats=["docx"], return_state=True)
    summary = next(a for a in run_artifacts(state.state_details.flow_run_id)["markdown"] if a.key == "utkast-summary")

    assert f"## Nytt sedan förra utkastet ({first['version']})" in summary.data
    for line in ("- 2\\.1 Stadsmissionen (ny)", "- 1\\.3 Myrorna (uppdaterad)", "- 4\\.2 Verdandi (tillbakadragen)"):
        assert line in summary.data

    state = build_draft(inbox=str(inbox), out=out, review=False, formats=["docx"], return_state=True)
    summary = next(a for a in run_artifacts(state.state_details.flow_run_id)["markdown"] if a.key == "utkast-summary")
    assert "# Inget nytt utkast" in summary.data


def test_an_intake_run_shows_the_tracker_and_rejections(prefect_harness, inbox, tmp_path):
    from flows.intake import intake

    state = intake(inbox=str(inbox), out=str(tmp_path / "outputs"), review=False, return_state=True)
    arts = run_artifacts(state.state_details.flow_run_id)
    rows = {row["Nr"]: row for row in _table_rows(arts["table"][0])}
    assert rows["4.2"]["Status"] == "Verdandi: mottagen"
    (summary,) = arts["markdown"]
    assert summary.key == "utkast-intake-summary" and "## Avvisade filer" in summary.data
    assert {a.key for a in arts["link"]} == {"utkast-status-page"}
    assert arts["progress"][0].data == 100.0


def _table_rows(artifact) -> list[dict]:
    import json

    data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return data


def _link(artifact) -> str:
    """The URL of a link artifact."""
    return LINK.fullmatch(artifact.data).group(1)
