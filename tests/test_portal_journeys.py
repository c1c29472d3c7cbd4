"""Journeys through the pages with the portal's script, as a partner and a reviewer take them:
Playwright (PyPI) driving Debian's Chromium, on a laptop (1280 x 800) and a phone (390 x 844),
axe-core on every page they pass, a full-page screenshot of each. The screenshots go to the
test's own folder; to refresh the ones in the docs, run the journeys with
``UTKAST_SCREENSHOTS=docs/screenshots`` (a test run leaves the checkout as it was).

The partner, with two pieces commissioned, drops two files and a PDF on the form at once:
the PDF is stopped in the browser, the two are sent with a progress bar each, and when the
intake has run, both verdicts and the language review appear on the page without a reload.
"""

from __future__ import annotations

import base64
import os
from datetime import date
from pathlib import Path

import pytest

from tasks.portal.links import PARTNER, issue_link
from tasks.storage.local import LocalStorage
from tests.builders import make_docx
from tests.conftest import ROOT, axe_violations
from tests.page_states import PartnerState, with_state_config
from tests.portal_server import running_portal
from tests.test_browser import CHROMIUM_FLAGS

SIZES = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
KEY = "nyckel-för-resorna-genom-sidorna-" + "r" * 12


def drop(page, selector: str, files: list[Path]) -> None:
    """Drop ``files`` on the element, as a person dragging them from the desktop does."""
    payload = [{"name": f.name, "data": base64.b64encode(f.read_bytes()).decode("ascii")} for f in files]
    transfer = page.evaluate_handle("""(files) => {
        const transfer = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
            transfer.items.add(new File([bytes], f.name));
        }
        return transfer;
    }""", payload)
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def screenshot(page, name: str, tmp_path: Path) -> Path:
    """A full-page screenshot, in ``UTKAST_SCREENSHOTS`` (relative to the checkout) when set, else
    in the test's folder."""
    folder = ROOT / os.environ["UTKAST_SCREENSHOTS"] if os.environ.get("UTKAST_SCREENSHOTS") else tmp_path / "bilder"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    return folder / f"{name}.png"


def text_of_row(page, name: str) -> str:
    return page.locator("#lage li", has=page.locator("span.namn", has_text=name)).inner_text()


@pytest.mark.parametrize("size", list(SIZES))
def test_a_partner_drops_two_files_and_sees_both_verdicts_and_the_review_without_a_reload(
        prefect_harness, chromium, axe_script, tmp_path, config, monkeypatch, size):
    sync_api = pytest.importorskip("playwright.sync_api")
    from flows.intake import intake

    monkeypatch.setenv("UTKAST_PORTAL_KEY", KEY)
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    desk = tmp_path / "skrivbord"
    desk.mkdir()
    good = desk / "1.3 Kvalitet i butikerna.docx"
    good.write_bytes(make_docx(["Myrorna arbetar med kvalitetssäkring i alla butikerna.",
                                "Kvaliteten följs upp varje månad av handledarna och deltagarna."], heading="Kvalitet"))
    broken = desk / "1.4 Roller och struktur.docx"
    broken.write_bytes(b"this is no Word file at all")
    pdf = desk / "bilaga.pdf"
    pdf.write_bytes(b"%PDF-1.4 not for us")
    state = PartnerState(commissioned=["1.3", "1.4"], today=date(2026, 7, 2), files=[],
                         coordinator_email="heidi.sandberg@samordning.test")
    cfg = with_state_config(config, state)
    token, _ = issue_link(LocalStorage(out), PARTNER, "myrorna", KEY.encode())
    passed: dict[str, list[str]] = {}

    def axe(page, name: str) -> None:
        passed[name] = axe_violations(page, axe_script)
        assert passed[name] == [], f"{name}: {passed[name]}"
        assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"], name

    with running_portal(inbox, out, cfg) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[f for f in CHROMIUM_FLAGS if f != "--headless"])
        try:
            page = browser.new_context(viewport=SIZES[size], bypass_csp=True, locale="sv-SE").new_page()
            page.goto(f"{base}/l/{token}/")
            main = page.locator("main")
            assert "Sista dag: 30 juni 2026" in main.inner_text()  # the earliest of their pieces not in
            for piece in ("1.3", "1.4"):
                article = page.locator("article", has=page.get_by_role("heading", name=f"{piece} Utmaningar"))
                assert "skulle ha lämnats 30 juni 2026" in article.inner_text() or \
                       "ska lämnas senast 30 juni 2026" in article.inner_text()
            assert "Frågor? Kontakta Heidi Sandberg, heidi.sandberg@samordning.test." in main.inner_text()
            assert "Du kan välja flera filer, eller dra dem hit" in main.inner_text()  # the script is there
            axe(page, "the partner's page")
            page.evaluate("window.sammaSida = true")  # gone if the page were loaded again

            drop(page, "form[data-uppladdning]", [good, broken, pdf])
            page.wait_for_function("""() => [...document.querySelectorAll('#skickas li')]
                .filter(li => li.className === 'mottagen').length === 2""", timeout=60_000)
            sent = page.locator("#skickas").inner_text()
            assert "bilaga.pdf" in sent and "skickas inte: Den här filtypen tas inte emot." in sent
            assert sorted(f.name for f in (inbox / "myrorna").iterdir()) == [good.name, broken.name]
            assert (inbox / "myrorna" / good.name).read_bytes() == good.read_bytes()
            axe(page, "the partner's page while the files wait")

            intake(inbox=str(inbox), out=str(out), review=True)  # what the stack's worker does on arrival

            page.wait_for_function("""() => {
                const text = document.querySelector('#lage').innerText;
                return text.includes('mottagen som delrapport 1.3') && text.includes('avvisad:')
                    && text.includes('Språkgranskning klar');
            }""", timeout=60_000)
            assert page.evaluate("window.sammaSida === true")  # no reload
            assert "mottagen som delrapport 1.3" in text_of_row(page, good.name)
            assert "avvisad: Filnamnet slutar på .docx men filen innehåller" in text_of_row(page, broken.name)
            review = page.locator("article", has=page.get_by_role("heading", name="1.3 Utmaningar"))
            assert "Språkgranskning klar" in review.inner_text()
            assert "Status: mottagen (1.3 Kvalitet i butikerna.docx)" in review.inner_text()
            axe(page, "the partner's page with the verdicts")
            screenshot(page, f"partner-{size}", tmp_path)
            with page.expect_download() as download:
                page.get_by_role("link", name="Ert dokument med kommentarer för 1.3 (Word)").click()
            assert download.value.suggested_filename == "1.3 Kvalitet i butikerna – språkgranskning.docx"
        finally:
            browser.close()
    assert list(passed) == ["the partner's page", "the partner's page while the files wait",
                            "the partner's page with the verdicts"]


@pytest.mark.parametrize("size", list(SIZES))
def test_a_reviewers_comments_reach_the_partners_page_and_inbox(prefect_harness, chromium, axe_script, tmp_path,
                                                               monkeypatch, size):
    """The reviewer downloads the draft from their page, comments in Word and uploads it on
    the page; the harvest the upload starts (on the stack: the comments-harvest deployment)
    tells the partner by e-mail, and the e-mail's link opens the partner's page with the comment."""
    import io
    import re

    from docx import Document

    from flows.roundtrip import harvest_comments
    from tasks.core.config import load_config
    from tasks.portal.links import REVIEWER
    from tests.builders import comment_on_words, put
    from tests.smtp_server import SmtpServer
    from tests.test_email_flow import ADDRESSES, at, build, by_recipient, mail_templates

    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.setenv("UTKAST_PORTAL_KEY", KEY)
    run = at(mail_templates(tmp_path), date(2026, 8, 3))
    config = load_config(run["templates"])
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.md", "# Kvalitet i butiken\n\nMyrorna arbetar med kvalitetssäkring i alla "
                                          "butiker.\n")
    reviewer, _ = issue_link(LocalStorage(out), REVIEWER, "Maja Sund", KEY.encode())
    issue_link(LocalStorage(out), PARTNER, "myrorna", KEY.encode())
    with SmtpServer() as smtp, running_portal(inbox, out, config) as base, sync_api.sync_playwright() as p:
        monkeypatch.setenv("UTKAST_SMTP_URL", smtp.url)
        monkeypatch.setenv("UTKAST_PORTAL_URL", base)
        build(inbox, out, run, formats=["docx", "html"])
        smtp.take()  # the receipt
        browser = p.chromium.launch(executable_path=chromium, args=[f for f in CHROMIUM_FLAGS if f != "--headless"])
        try:
            page = browser.new_context(viewport=SIZES[size], bypass_csp=True, locale="sv-SE",
                                       accept_downloads=True).new_page()
            page.goto(f"{base}/l/{reviewer}/")
            assert page.get_by_role("heading", level=1).inner_text() == "Granskning av utkastet"
            assert violations(page, axe_script) == []
            with page.expect_download() as download:
                page.get_by_role("link", name="Ladda ner utkastet som Word-fil").click()
            draft = Document(download.value.path())
            comment_on_words(draft, "kvalitetssäkring i alla butiker", "Vad menas med kvalitetssäkring här?",
                             "Maja Sund")
            commented = tmp_path / "utkast med kommentarer.docx"
            buffer = io.BytesIO()
            draft.save(buffer)
            commented.write_bytes(buffer.getvalue())
            page.get_by_label("Word-fil med dina kommentarer").set_input_files(str(commented))
            page.get_by_role("button", name="Skicka filen").click()
            page.wait_for_function("() => document.querySelector('#skickas li.mottagen') !== null", timeout=60_000)

            harvest_comments(inbox=str(inbox), out=str(out), templates=run["templates"])  # what the upload starts

            page.wait_for_function("() => document.querySelector('#lage').innerText.includes('läst: 1 synpunkt')",
                                   timeout=60_000)
            assert violations(page, axe_script) == []
            screenshot(page, f"reviewer-{size}", tmp_path)
            (mail,) = by_recipient(smtp.take())[ADDRESSES["myrorna"][0]]
            assert mail.subject == "Synpunkter från granskarna: 1 ny synpunkt på er text"
            link = re.search(rf"{re.escape(base)}/l/[A-Za-z0-9_-]{{43}}/", mail.text).group(0)
            page.goto(link)
            comments = page.locator("article", has=page.get_by_role("heading", name="1.3 Utmaningar")).inner_text()
            assert "Granskarnas synpunkter" in comments and "Vad menas med kvalitetssäkring här?" in comments
            assert "kommentar från Maja Sund" in comments
            assert violations(page, axe_script) == []
        finally:
            browser.close()


def violations(page, axe_script) -> list[str]:
    found = axe_violations(page, axe_script)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    return found
