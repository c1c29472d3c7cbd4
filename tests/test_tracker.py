"""The tracker: who has delivered which piece, what was rejected and why, what is missing,
too long, or has language findings and open review points (plain functions, no Prefect)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from tasks.intake.inbox import write_rejections
from tasks.intake.tracker import build_tracker, tracker_table, write_tracker
from tasks.review.run import pending_summary
from tasks.storage.local import LocalStorage
from tests.builders import make_docx, normalise_inbox, put

HOSTILE = "3.1 <img src=x onerror=alert(1)>.pdf"


@pytest.fixture
def intake(tmp_path, config):
    inbox = tmp_path / "inbox"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Kvaliteten följs upp varje månad."]))
    put(inbox, "stadsmissionen/1.3 Kvalitet.md", "# Kvalitet\n\nVi mäter kvalitet med enkäter.\n")
    put(inbox, "forum/5.1 Avstämning.md", "# Avstämning\n\n" + "Vi stämde av arbetet med alla partner. " * 250)
    put(inbox, f"verdandi/{HOSTILE}", b"%PDF-1.4 not a report we can edit")
    put(inbox, "myrorna/anteckningar.docx", make_docx(["Utan nummer i namnet."]))
    return normalise_inbox(inbox, tmp_path / "out", config)


def _tracker(intake, config, **extra):
    files, reports = intake
    return build_tracker(files, reports, config, generated=1785000000, **extra)


def _row(tracker: dict, piece: str) -> list[str]:
    (row,) = [r for r in tracker_table(tracker) if r[0] == piece]
    return row


def test_received_rejected_missing_and_over_length_per_piece(intake, config):
    tracker = _tracker(intake, config)

    assert tracker_table(tracker)[0] == ["Nr", "Delrapport", "Inlämnat av", "Status", "Senast", "LIX"]
    assert len(tracker_table(tracker)) == 1 + 17  # a row for every piece of the outline
    nr, title, who, status, due, lix = _row(tracker, "1.3")
    assert title == "Utmaningar och förbättringsförslag för kvalitetssäkring"
    assert who == "Stadsmissionen, Myrorna"  # in the registry's order
    assert status == "Myrorna: mottagen; Stadsmissionen: mottagen"
    # 7 × 250 = 1,750 words at 500 words a page: longer than the 3 pages commissioned.
    assert _row(tracker, "5.1")[2:4] == ["Forum", "Forum: för lång"]
    assert tracker["cells"]["forum/5.1"]["pages"] == 3.5
    # A rejected file delivers nothing: the piece is still missing, and says why.
    assert _row(tracker, "3.1")[2:4] == ["–", "Verdandi: avvisad"]
    assert _row(tracker, "1.1")[2:4] == ["–", "saknas"]
    assert "3.1" in tracker["missing"] and "1.1" in tracker["missing"]
    assert "1.3" not in tracker["missing"] and "5.1" not in tracker["missing"]
    assert tracker["counts"] == {"files": 5, "accepted": 3, "superseded": 0, "rejected": 2,
                                 "pieces_received": 2, "pieces_total": 17}


def test_a_rejected_file_carries_its_swedish_reason(intake, config):
    tracker = _tracker(intake, config)

    reasons = {r["key"]: r["reason"] for r in tracker["rejected"]}
    assert "PDF" in reasons[f"verdandi/{HOSTILE}"] and "Word-dokument (.docx)" in reasons[f"verdandi/{HOSTILE}"]
    assert "Börja filnamnet med delrapportens nummer" in reasons["myrorna/anteckningar.docx"]
    assert tracker["cells"]["verdandi/3.1"]["rejected"] == [{"file": HOSTILE, "reason": reasons[f"verdandi/{HOSTILE}"]}]


def test_review_findings_pending_reviews_and_open_review_points(intake, config):
    tracker = _tracker(intake, config,
                       reviews={"myrorna/1.3": {"pending": False, "findings": 3, "html": "review/myrorna/1.3.html"},
                                "stadsmissionen/1.3": pending_summary("the checker is unavailable")},
                       feedback_open={"myrorna/1.3": 2, "forum/5.1": 1})

    assert _row(tracker, "1.3")[3] == ("Myrorna: mottagen, 3 språkpåpekanden, 2 öppna granskningspunkter; "
                                       "Stadsmissionen: mottagen, granskning väntar")
    assert _row(tracker, "5.1")[3] == "Forum: för lång, 1 öppen granskningspunkt"


class _Page(HTMLParser):
    """The visible text of a page, its links (text, href) and every tag it opens."""

    def __init__(self, html: str):
        super().__init__()
        self.text, self.links, self.tags, self._link = [], [], [], None
        self.feed(html)
        self.text = " ".join("".join(self.text).split())

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a":
            self._link = [dict(attrs).get("href"), ""]

    def handle_endtag(self, tag):
        if tag == "a" and self._link:
            self.links.append((self._link[1], self._link[0]))
            self._link = None

    def handle_data(self, data):
        self.text.append(data)
        if self._link:
            self._link[1] += data


def test_the_page_shows_the_grid_reasons_and_links_and_escapes_a_hostile_file_name(tmp_path, intake, config):
    files, _ = intake
    out = LocalStorage(tmp_path / "out")
    write_rejections(out, files, config, {})
    tracker = _tracker(intake, config,
                       reviews={"myrorna/1.3": {"pending": False, "findings": 3, "html": "review/myrorna/1.3.html"}})

    write_tracker(out, tracker, config)

    assert json.loads((tmp_path / "out/status.json").read_text(encoding="utf-8")) == tracker
    html = (tmp_path / "out/status.html").read_text(encoding="utf-8")
    page = _Page(html)
    assert "img" not in page.tags and "<img" not in html
    assert "Läget för delrapporterna" in page.text
    assert "2 av 17 delrapporter har kommit in; 2 filer har avvisats." in page.text
    assert f"verdandi/{HOSTILE}: PDF-filer kan inte läsas in" in page.text  # shown as text, not as markup
    assert "Saknas" in page.text and "1.1 Översiktlig genomgång" in page.text
    links = dict(page.links)
    # Each rejected file links to the Swedish note beside it; the review report is linked from its cell.
    note = tmp_path / "out" / unquote(links[f"verdandi/{HOSTILE}"])
    assert note.is_file() and "Filen togs inte emot" in note.read_text(encoding="utf-8")
    assert unquote(links["3 påp."]) == "review/myrorna/1.3.html"
