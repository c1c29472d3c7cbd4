"""The partner's way in, in a real browser without the portal's script: Playwright (PyPI)
driving Debian's Chromium with /skript.js refused, so the plain form is what works (the script
only adds to it; tests/test_portal_journeys.py walks the pages with it). axe-core still runs.

A partner opens the link `utkast invite` printed, uploads a Word file through the page, sees
it received, and after `utkast intake` sees the verdict and the language review's links.
Another partner's link, a rotated and a made-up link, and the refusals are tried too; axe-core
(the npm package, injected into each page) checks every page against WCAG 2.1 A and AA.
"""

from __future__ import annotations

import dataclasses

import pytest

from tasks.portal.links import KEY_ENV
from tests.builders import make_docx
from tests.conftest import axe_violations
from tests.portal_server import running_portal
from tests.test_browser import CHROMIUM_FLAGS


def link_printed(main, capsys, *args) -> str:
    assert main(["invite", *args]) == 0
    return capsys.readouterr().out.strip().splitlines()[1]


def test_a_partner_uploads_through_the_page_and_sees_the_verdict(prefect_harness, chromium, axe_script, tmp_path,
                                                                 config, capsys, monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api")
    from flows.cli import main

    monkeypatch.setenv(KEY_ENV, "nyckel-för-webbläsartestet-" + "y" * 20)
    intake = config.settings.intake.model_copy(update={"max_file_mb": 1})
    small = dataclasses.replace(config, settings=config.settings.model_copy(update={"intake": intake}))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    files = tmp_path / "skrivbord"
    files.mkdir()
    report = files / "1.3 Kvalitet i butikerna.docx"
    report.write_bytes(make_docx(["Myrorna arbetar med kvalitetssäkring i alla butiker.",
                                  "Kvaliteten följs upp varje månad av handledarna."], heading="Kvalitet"))
    (files / "bilaga.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")
    (files / "1.3 Stor.docx").write_bytes(b"x" * (1024 * 1024 + 10))
    (files / "2.1 Stöd.docx").write_bytes(make_docx(["Stöd och matchning."]))

    checked: dict[str, list] = {}

    def axe(page, name: str) -> None:
        """No WCAG 2.1 A/AA violation on this page, and nothing wider than the phone."""
        found = axe_violations(page, axe_script)
        checked[name] = found
        assert found == [], f"{name}: {found}"
        assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"], name

    with running_portal(inbox, out, small) as base, sync_api.sync_playwright() as p:
        partner = link_printed(main, capsys, "myrorna", "--out", str(out), "--base-url", base)
        browser = p.chromium.launch(executable_path=chromium, args=[f for f in CHROMIUM_FLAGS if f != "--headless"])
        try:
            # A phone: 320 px wide. bypass_csp lets axe's script in (the pages themselves allow none).
            page = browser.new_context(viewport={"width": 320, "height": 700}, bypass_csp=True,
                                       locale="sv-SE").new_page()
            page.route("**/skript.js", lambda route: route.abort())
            page.goto(partner)
            assert page.title().startswith("Myrorna: delrapporter")
            assert page.get_by_role("heading", level=1).inner_text() == "Delrapporter från Myrorna"
            assert page.get_by_text("Ni har inte laddat upp några filer ännu.").is_visible()
            axe(page, "the partner's page, empty")

            page.get_by_label("Fil", exact=True).set_input_files(str(report))
            page.get_by_role("button", name="Skicka filen").click()
            status = page.get_by_role("status")
            assert status.inner_text().startswith("Mottagen: 1.3 Kvalitet i butikerna.docx. Den väntar på granskning "
                                                  "sedan kl.")
            assert (inbox / "myrorna" / report.name).read_bytes() == report.read_bytes()
            axe(page, "the partner's page after an upload")

            page.get_by_label("Fil", exact=True).set_input_files(str(files / "bilaga.pdf"))
            page.get_by_role("button", name="Skicka filen").click()
            assert "bilaga.pdf" in page.get_by_role("status").inner_text()

            # Refusals: too large (limit 1 MB here), and a piece that contradicts the name.
            page.get_by_label("Fil", exact=True).set_input_files(str(files / "1.3 Stor.docx"))
            page.get_by_role("button", name="Skicka filen").click()
            alert = page.get_by_role("alert")
            assert "Filen är större än 1 MB, som är gränsen." in alert.inner_text()
            assert page.title().startswith("Fel: Myrorna: delrapporter")
            # Focus on the error summary. Chromium applies autofocus at its next frame, so wait for it as a user would.
            sync_api.expect(page.locator("#felruta")).to_be_focused()
            assert page.get_by_label("Fil", exact=True).get_attribute("aria-invalid") == "true"
            axe(page, "the refusal of a file that is too large")

            page.get_by_label("Fil", exact=True).set_input_files(str(files / "2.1 Stöd.docx"))
            page.get_by_label("Delrapport (valfritt)").select_option("1.3")
            page.get_by_role("button", name="Skicka filen").click()
            assert "Filnamnet börjar med delrapport 2.1, men du valde 1.3." in page.get_by_role("alert").inner_text()
            axe(page, "the refusal of a piece that contradicts the name")
            assert sorted(x.name for x in (inbox / "myrorna").iterdir()) == ["1.3 Kvalitet i butikerna.docx",
                                                                              "bilaga.pdf"]

            assert main(["intake", "--inbox", str(inbox), "--out", str(out)]) == 0
            capsys.readouterr()
            page.goto(partner)
            piece = page.locator("article", has=page.get_by_role("heading", name="1.3 Utmaningar och "
                                                                             "förbättringsförslag för kvalitetssäkring"))
            assert "Status: mottagen (1.3 Kvalitet i butikerna.docx)" in piece.inner_text()
            assert "Språkgranskning klar" in piece.inner_text()
            files_list = page.locator("section", has=page.get_by_role("heading", name="Era filer")).inner_text()
            assert "1.3 Kvalitet i butikerna.docx" in files_list and "mottagen som delrapport 1.3" in files_list
            assert "bilaga.pdf" in files_list and "avvisad: " in files_list
            axe(page, "the partner's page after the intake")
            page.get_by_role("link", name="Granskningsrapporten för 1.3 (webbsida)").click()
            assert page.get_by_role("heading", level=1).inner_text() == "Språkgranskning"
            page.go_back()
            with page.expect_download() as download:
                page.get_by_role("link", name="Ert dokument med kommentarer för 1.3 (Word)").click()
            assert download.value.suggested_filename == "1.3 Kvalitet i butikerna – språkgranskning.docx"

            # Another partner sees only their own; a rotated and a made-up link get the 404 page.
            other = link_printed(main, capsys, "verdandi", "--out", str(out), "--base-url", base)
            page.goto(other)
            assert page.get_by_role("heading", level=1).inner_text() == "Delrapporter från Verdandi"
            assert "Kvalitet i butikerna" not in page.content() and "bilaga.pdf" not in page.content()
            axe(page, "another partner's page")
            assert page.goto(other + "granskning/1.3.html").status == 404
            link_printed(main, capsys, "verdandi", "--out", str(out), "--base-url", base, "--rotate")
            for gone in (other, f"{base}/l/{'x' * 43}/"):
                answer = page.goto(gone)
                assert answer.status == 404
                assert page.get_by_role("heading", level=1).inner_text() == "Sidan finns inte"
                assert "Verdandi" not in page.content()
            axe(page, "the 404 page")

            reviewer = link_printed(main, capsys, "--reviewer", "Anna Svensson", "--out", str(out), "--base-url", base)
            page.goto(reviewer)
            assert page.get_by_text("Inget utkast har publicerats ännu.").is_visible()
            assert main(["build", "--inbox", str(inbox), "--out", str(out), "--no-review",
                         "--formats", "docx,html"]) == 0
            page.goto(reviewer)
            assert page.get_by_role("heading", level=1).inner_text() == "Granskning av utkastet"
            assert page.get_by_role("link", name="Ladda ner utkastet som Word-fil").is_visible()
            axe(page, "the reviewer's page")
            laptop = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True).new_page()
            laptop.goto(base + "/")
            axe(laptop, "the start page")
        finally:
            browser.close()
    assert len(checked) == 9
