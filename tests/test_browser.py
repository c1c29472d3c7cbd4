"""The reviewers' page in a real browser (headless Chromium from Debian): what a reviewer
sees, and the draft downloaded through the page's own link."""

from __future__ import annotations

import io
import subprocess
import urllib.request
from html.parser import HTMLParser

from docx import Document

from tests.builders import make_docx

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # Belt and braces: anything not for 127.0.0.1 goes nowhere.
                  "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


class Page(HTMLParser):
    """The visible text of a page and its links with their text."""

    def __init__(self):
        super().__init__()
        self.text, self.links, self._href, self._skip = [], [], None, 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "a":
            self._href, self._label = dict(attrs).get("href"), []

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1
        if tag == "a" and self._href is not None:
            self.links.append(("".join(self._label).strip(), self._href))
            self._href = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._href is not None:
            self._label.append(data)


def test_reviewer_opens_the_page_and_downloads_the_draft(prefect_harness, s3_env, chromium, tmp_path):
    from flows.build import build_draft

    browser = chromium
    bucket, client = s3_env.bucket, s3_env.client()
    client.put_object(Bucket=bucket, Key="browser/inbox/coompanion/4.3 Verksamhetsutveckling.docx",
                      Body=make_docx(["Coompanion stöttar verksamhetsutveckling i kooperativ."]))
    result = build_draft(inbox=f"s3://{bucket}/browser/inbox", out=f"s3://{bucket}/browser/outputs",
                         review=False, formats=["docx", "html"])

    dom = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--dump-dom", result["index"]],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    page = Page()
    page.feed(dom)
    text = " ".join(" ".join(page.text).split())

    assert "Utkast för granskning" in text
    assert "Senaste utkastet:" in text and f"Version {result['version']}" in text
    assert "1 delrapporter (1 av 17 delar har kommit in)" in text
    assert "Nya delrapporter: 4.3 Coompanion" in text
    assert "Länkarna på sidan gäller till" in text
    labels = [label for label, _ in page.links]
    assert labels == ["Ladda ner DOCX", "Ladda ner HTML"]

    href = dict(page.links)["Ladda ner DOCX"]
    with urllib.request.urlopen(href, timeout=30) as response:
        assert response.headers["Content-Disposition"] == f'attachment; filename="utkast-{result["version"]}.docx"'
        draft = Document(io.BytesIO(response.read()))
    assert "Coompanion stöttar verksamhetsutveckling i kooperativ." in "\n".join(p.text for p in draft.paragraphs)
