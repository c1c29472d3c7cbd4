"""Every page rendered over every state the data allows: Hypothesis generates the partner's
files, verdicts, commissions, due dates, reviews, personal data and reviewers' points; the
real application renders the real templates; the test reads the page as a person would.

What a person must see is checked against the state, never against the data the page was
made from: each file's true verdict, each of their pieces with its date and "försenad" when
late, the review's progress, who to ask, and nowhere a folder, a run, a build or a rule id.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html
from starlette.testclient import TestClient

from tasks.portal.app import create_app
from tasks.portal.links import PARTNER, REVIEWER, issue_link
from tasks.storage.local import LocalStorage
from tests.page_states import SLUG, PartnerState, partner_states, with_state_config, write_partner_state

KEY = b"nyckel-for-sidornas-tillstand-" + b"t" * 16
# Words partners and reviewers must never meet: our folders, runs and builds, rule ids.
JARGON_WORDS = re.compile(r"\b(mapp\w*|inkorg\w*|körning\w*|bygge\w*)\b|feedback/", re.IGNORECASE)
JARGON_CASED = re.compile(r"\b[A-Z]{2,}(?:_[A-Z0-9]+)+\b")


def text_of(node) -> str:
    return " ".join(html.unescape(node.text_content()).split())


def jargon_in(text: str) -> list[str]:
    return [m.group(0) for m in JARGON_WORDS.finditer(text)] + JARGON_CASED.findall(text)


def render_partner(state: PartnerState, config, today_patch) -> tuple[int, lxml_html.HtmlElement, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        inbox, out = Path(tmp, "inbox"), Path(tmp, "outputs")
        inbox.mkdir()
        cfg = with_state_config(config, state)
        refs = write_partner_state(state, cfg, inbox, out)
        token, _ = issue_link(LocalStorage(out), PARTNER, SLUG, KEY)
        with today_patch(state.today), TestClient(create_app(str(inbox), str(out), cfg)) as client:
            answer = client.get(f"/l/{token}/")
        return answer.status_code, lxml_html.fromstring(answer.text), refs


@pytest.fixture(scope="module")
def today_patch():
    """Pages take today's date from the clock: a context that sets it for one rendering."""
    import contextlib

    import tasks.portal.pages as pages

    @contextlib.contextmanager
    def on(day):
        real = pages.stockholm_today
        pages.stockholm_today = lambda now=None: day
        try:
            yield
        finally:
            pages.stockholm_today = real

    return on


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_the_partners_page_renders_every_state_truthfully(config, today_patch, data):
    state = data.draw(partner_states(config))
    status, page, refs = render_partner(state, config, today_patch)
    assert status == 200
    assert page.get("lang") == "sv" and page.findtext(".//title").strip()
    assert len(page.findall(".//h1")) == 1
    main = page.find(".//main")
    seen = text_of(main)

    # Each file with its true verdict, found by the ref the page gives it.
    winners = {f.piece: f.name for f in state.files if f.verdict == "accepted"}
    for f in state.files:
        (row,) = main.xpath(f'.//li[@data-ref="{refs[f.name]}"]')
        said = text_of(row)
        assert said.startswith(f.name)
        if f.verdict == "pending":
            assert "väntar på granskning sedan" in said
        elif f.verdict == "rejected":
            assert f"avvisad: {f.reason}" in said
        elif winners[f.piece] == f.name:
            assert f"mottagen som delrapport {f.piece}" in said
        else:
            assert "ersatt av en nyare fil för samma delrapport" in said
    if not state.files:
        assert "Ni har inte laddat upp några filer ännu." in seen

    # Their pieces: commissioned or delivered; due date, and "försenad" when late.
    articles = {a.findtext(".//h3").split(" ", 1)[0]: text_of(a) for a in main.xpath('.//article')}
    ours = set(state.commissioned) | {f.piece for f in state.files if f.verdict in ("accepted", "rejected")}
    assert set(articles) == ours
    for piece in state.commissioned:
        due = config.outline.due(piece)
        if piece not in winners and due < state.today:
            assert "Status: försenad" in articles[piece] and "skulle ha lämnats" in articles[piece]
        elif piece not in winners:
            assert "ska lämnas senast" in articles[piece]
    for piece, review in state.reviews.items():
        if review == "pending":
            assert "Språkgranskning pågår." in articles[piece]
        elif review is not None:
            assert f"Språkgranskning klar: {review} {'påpekande' if review == 1 else 'påpekanden'}." in articles[piece]
    for piece, n in state.personal.items():
        assert ("personuppgifter (2 namn)" in articles[piece]) == bool(n)
    for piece, comments in state.points.items():
        for comment in comments:
            assert comment in articles[piece]
    if state.commissioned:
        assert "Delrapporter som ingen har lämnat än" not in seen  # only their own pieces are theirs

    # When, how and whom to ask.
    assert "Sista dag:" in seen and "Så lämnar ni en delrapport" in seen
    contact = "Frågor? Kontakta Heidi Sandberg" + (f", {state.coordinator_email}." if state.coordinator_email else ".")
    assert contact in seen
    # Plain Swedish: file names are the partner's own words, the rest is ours.
    ours_only = seen
    for f in state.files:
        ours_only = ours_only.replace(f.name, "")
    assert jargon_in(ours_only) == []


def test_a_commissioned_partner_sees_due_dates_and_late_pieces(config, today_patch):
    """The state that crashed the page (pieces assigned): rendered, with what the reminders are about."""
    from datetime import date

    state = PartnerState(commissioned=["1.3", "1.4"], today=date(2026, 7, 2), files=[],
                         coordinator_email="heidi.sandberg@samordning.test")
    status, page, _ = render_partner(state, config, today_patch)
    seen = text_of(page.find(".//main"))
    assert status == 200
    assert "1.3 Utmaningar och förbättringsförslag för kvalitetssäkring Status: försenad, skulle ha lämnats " \
           "30 juni 2026" in seen
    assert "Sista dag: 30 juni 2026. Datumet har passerat; lämna så snart ni kan." in seen


def test_the_reviewers_page_renders_every_state(config):
    @settings(max_examples=25, deadline=None)
    @given(st.booleans(), st.booleans(), st.lists(st.sampled_from(["pending", "received", "rejected"]), max_size=3))
    def check(published, with_changes, files):
        with tempfile.TemporaryDirectory() as tmp:
            inbox, out = Path(tmp, "inbox"), Path(tmp, "outputs")
            store, inbox_store = LocalStorage(out), LocalStorage(inbox)
            known = []
            for i, state in enumerate(files):
                key = f"feedback/Anna Svensson/utkast {i}.docx"
                inbox_store.write(key, b"x")
                if state != "pending":
                    known.append({"key": key, "verdict": state, "reason": "Filen är skadad.", "points": i})
            store.write("feedback.json", json.dumps({"points": [], "files": known}).encode())
            if published:
                write_draft(store, with_changes)
            token, _ = issue_link(store, REVIEWER, "Anna Svensson", KEY)
            with TestClient(create_app(str(inbox), str(out), config)) as client:
                answer = client.get(f"/l/{token}/")
            assert answer.status_code == 200
            page = lxml_html.fromstring(answer.text)
            seen = text_of(page.find(".//main"))
            assert "Välkommen, Anna Svensson." in seen
            assert ("Inget utkast har publicerats ännu." in seen) != published
            if published:
                assert "Öppna utkastet som webbsida" in seen and "Ladda ner utkastet som Word-fil" in seen
                web = page.xpath('.//a[contains(., "Öppna utkastet som webbsida")]')[0]
                assert web.get("download") is None  # the web page opens, it is not downloaded
            for i, state in enumerate(files):
                row = text_of(page.xpath(f'.//li[span[@class="namn"][text()="utkast {i}.docx"]]')[0])
                expected = {"pending": "väntar på att läsas in sedan", "received": f"läst: {i} synpunkt",
                            "rejected": "kunde inte läsas: Filen är skadad."}[state]
                assert expected in row
            assert jargon_in(seen) == []

    check()


def write_draft(store: LocalStorage, with_changes: bool) -> None:
    version = "20260803-020000-abc123"
    for fmt in ("docx", "pdf", "html"):
        store.write(f"drafts/{version}/utkast.{fmt}", b"draft")
    store.write(f"drafts/{version}/manifest.json", json.dumps(
        {"version": version, "created_sv": "3 augusti 2026 kl. 02.00", "reports": [{}], "missing": ["1.1"]}).encode())
    store.write("drafts/latest.json", json.dumps(
        {"version": version, "created": "2026-08-03", "formats": {f: f"drafts/{version}/utkast.{f}"
                                                                  for f in ("docx", "pdf", "html")}}).encode())
    if with_changes:
        store.write(f"drafts/{version}/andringar.json", json.dumps(
            {"from": "20260802-1", "summary": "delrapporter: 1 ny", "paket": [
                {"number": 1, "title": "Verksamheter", "lines": ["Ny: 1.3 Kvalitet (Myrorna, version 1)"]}],
             "other": {}}).encode())


def test_axe_finds_no_violation_on_any_state_of_any_page(chromium, axe_script, config, tmp_path, monkeypatch):
    """axe-core in Chromium over generated partner states, the reviewer's page, and the 404,
    500 and 503 pages (a browser, a portal and one folder reused for every state)."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.conftest import axe_violations
    from tests.portal_server import running_portal
    from tests.test_browser import CHROMIUM_FLAGS

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    checked: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[f for f in CHROMIUM_FLAGS if f != "--headless"])
        page = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True).new_page()

        def check(url: str, name: str, status: int = 200) -> None:
            answer = page.goto(url)
            assert answer.status == status, name
            found = axe_violations(page, axe_script)
            assert found == [], f"{name}: {found}"
            checked.append(name)

        @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.data())
        def partner_pages(data):
            state = data.draw(partner_states(config))
            for folder in (inbox, out):
                shutil.rmtree(folder, ignore_errors=True)
            inbox.mkdir()
            cfg = with_state_config(config, state)
            write_partner_state(state, cfg, inbox, out)
            token, _ = issue_link(LocalStorage(out), PARTNER, SLUG, KEY)
            with running_portal(inbox, out, cfg) as base:
                check(f"{base}/l/{token}/", f"partner page {len(checked)}")

        try:
            partner_pages()
            shutil.rmtree(out, ignore_errors=True)
            write_draft(LocalStorage(out), True)
            reviewer, _ = issue_link(LocalStorage(out), REVIEWER, "Anna Svensson", KEY)
            with running_portal(inbox, out, config) as base:
                check(f"{base}/l/{reviewer}/", "the reviewer's page")
                check(f"{base}/l/{'x' * 43}/", "the 404 page", 404)
                check(f"{base}/", "the start page")
                (out / "portal" / "links.json").write_text("{ damaged", encoding="utf-8")
                check(f"{base}/l/{reviewer}/", "the 503 page", 503)
            import tasks.portal.app

            monkeypatch.setattr(tasks.portal.app, "partner_view", lambda *a, **k: 1 / 0)
            (out / "portal" / "links.json").unlink()
            token, _ = issue_link(LocalStorage(out), PARTNER, SLUG, KEY)
            with running_portal(inbox, out, config) as base:
                check(f"{base}/l/{token}/", "the 500 page", 500)
        finally:
            browser.close()
    assert len(checked) >= 12 + 5
