"""What a run came to (tasks/draft/summary.py) and whether a build left nothing for the next one
(tasks/draft/stamp.py: settled): plain functions, no Prefect."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tasks.core.errors import ChangedDuringRun
from tasks.draft.stamp import settled
from tasks.draft.summary import run_summary
from tasks.intake.inbox import InboxFile
from tasks.intake.tracker import build_tracker
from tasks.storage.local import LocalStorage
from tests.builders import normalise_inbox, put

PERSONAL = {"verdandi/4.2": {"phrase": "1 namn", "places": ["stycke 1"], "counts": {"namn": 1}}}
LATEST = {"version": "20260504-020000-abcdef", "formats": {"docx": "drafts/20260504-020000-abcdef/utkast.docx",
                                                          "pdf": "drafts/20260504-020000-abcdef/utkast.pdf"}}


@pytest.fixture
def run(tmp_path, config):
    inbox = tmp_path / "inbox"
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nVerksamheten bygger på gemenskap.\n")
    put(inbox, "myrorna/3.2 Länken.pdf", b"%PDF-1.4 not a report we can edit")
    files, reports = normalise_inbox(inbox, tmp_path / "out", config)
    return LocalStorage(tmp_path / "out"), build_tracker(files, reports, config, generated=1785000000)


def test_an_intake_summary_counts_reports_and_says_what_the_settings_do_with_personal_data(run, config):
    out, tracker = run
    summary = run_summary(out, config, tracker, converted=1, reports=1, reused=0, pending=["4.2 Verdandi"],
                          personal=PERSONAL)
    assert "version" not in summary and "stopped" not in summary  # what the artifacts tell an intake by
    assert (summary["converted"], summary["reports"], summary["rejected"]) == (1, 1, 1)
    assert summary["rejected_files"] == [{"file": "myrorna/3.2 Länken.pdf", "reason": tracker["rejected"][0]["reason"]}]
    assert "PDF" in summary["rejected_files"][0]["reason"]
    assert summary["pending_reviews"] == ["4.2 Verdandi"]
    assert summary["personal"] == [{"label": "4.2 Verdandi", "counts": "1 namn", "places": ["stycke 1"]}]
    assert summary["personal_action"] == config.settings.personal_action == "mask"
    assert summary["status"] == out.href("status.html")
    assert "email" not in summary  # e-mail never on


def test_a_build_summary_links_every_format_and_labels_the_changes(run, config):
    out, tracker = run
    changes = {"previous": "20260503-020000-123456", "new": ["verdandi/4.2"], "updated": [], "withdrawn": []}
    summary = run_summary(out, config, tracker, latest=LATEST, published=True, converted=1, changes=changes,
                          pending=["4.2 Verdandi"], personal=PERSONAL)
    assert summary["published"] and summary["version"] == LATEST["version"]
    assert set(summary["draft"]) == {"docx", "pdf"}
    assert summary["draft"]["docx"] == out.href(LATEST["formats"]["docx"],
                                                filename=f"utkast-{LATEST['version']}.docx")
    assert summary["changes_page"] == out.href(f"drafts/{LATEST['version']}/andringar.html")
    assert summary["changes"] == {"previous": "20260503-020000-123456", "new": ["4.2 Verdandi"], "updated": [],
                                  "withdrawn": []}
    assert summary["personal_action"] == "mask"  # the draft went out with them masked
    # Nothing new: the same shape, the latest draft again, no changes.
    again = run_summary(out, config, tracker, latest=LATEST, converted=0)
    assert not again["published"] and again["changes"] is None and again["version"] == LATEST["version"]


def test_a_stopped_build_summary_has_no_draft_and_says_stop(run, config):
    out, tracker = run
    summary = run_summary(out, config, tracker, stopped=True, converted=1, personal=PERSONAL)
    assert summary["stopped"] and not summary["published"] and "draft" not in summary and "version" not in summary
    assert summary["personal_action"] == "stop"
    assert summary["personal"][0]["label"] == "4.2 Verdandi"


@dataclass
class Waiting:
    waiting: int


def _file(reason_code=None) -> InboxFile:
    return InboxFile(key="verdandi/4.2 Motiv.md", size=1, modified=0, etag="x", verdict="accepted",
                     reason_code=reason_code)


@pytest.mark.parametrize("files, pending, feedback, email, problems, expected", [
    ([_file()], [], {}, None, {}, True),
    ([_file()], [], {}, Waiting(0), {}, True),
    ([_file()], ["4.2 Verdandi"], {}, None, {}, False),  # a review pending: the next build does it
    ([_file(ChangedDuringRun.code)], [], {}, None, {}, False),  # a file changed while it was read
    ([_file()], [], {"status_problems": ["a bad entry"]}, None, {}, False),  # review points' statuses to fix
    ([_file()], [], {}, Waiting(2), {}, False),  # e-mail waiting for the next run
    ([_file()], [], {}, None, {"pdf": "the PDF could not be made"}, False),  # a format missing
])
def test_a_build_is_settled_only_when_it_left_nothing_to_do(files, pending, feedback, email, problems, expected):
    assert settled(files, pending, feedback, email, problems) is expected
