"""`utkast serve` over real HTTP on 127.0.0.1: what partners and reviewers get, what is
refused, and that nothing refused ever reaches the inbox."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from docx import Document

from tasks.portal.links import KEY_ENV, PARTNER, REVIEWER, issue_link, load_key
from tasks.storage.local import LocalStorage
from tests.builders import comment_on_words, make_docx, put
from tests.portal_server import form, get, request, running_portal, upload

MB = 1024 * 1024


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "nyckel-för-portaltesterna-" + "x" * 20)
    return load_key()


@pytest.fixture
def small(config):
    """The configuration with a 1 MB upload limit (so limits are tested with small bodies)."""
    intake = config.settings.intake.model_copy(update={"max_file_mb": 1})
    return dataclasses.replace(config, settings=config.settings.model_copy(update={"intake": intake}))


@pytest.fixture
def site(tmp_path, small, key):
    """The service over a temporary inbox and outputs, with links for two partners."""
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    store = LocalStorage(out)
    tokens = {slug: issue_link(store, PARTNER, slug, key)[0] for slug in ("myrorna", "verdandi")}
    with running_portal(inbox, out, small) as base:
        yield {"base": base, "inbox": inbox, "out": out, "store": store, "key": key,
               "url": {slug: f"{base}/l/{t}/" for slug, t in tokens.items()}, "tokens": tokens}


def files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def visible(html: str) -> str:
    """The page's text without tags, whitespace folded (what a person reads)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_an_upload_lands_in_the_partners_folder_and_the_page_answers_at_once(site):
    page = get(site["url"]["myrorna"])
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    text = visible(page.text)
    assert "Delrapporter från Myrorna" in text and "Ladda upp" in text and "Era delrapporter" in text and "Så lämnar ni en delrapport" in text
    assert "Ni har inte laddat upp några filer ännu." in text
    assert site["tokens"]["myrorna"] not in page.text  # links on the page are relative

    data = make_docx(["Myrorna arbetar med kvalitet i butikerna."])
    sent = upload(site["url"]["myrorna"], "1.3 Kvalitet.docx", data)

    assert sent.status == 303 and re.fullmatch(r"\./\?mottagen=[0-9a-f]{32}", sent.headers["Location"])
    assert (site["inbox"] / "myrorna" / "1.3 Kvalitet.docx").read_bytes() == data
    after = visible(get(urllib.parse.urljoin(site["url"]["myrorna"] + "lamna", sent.headers["Location"])).text)
    assert "Mottagen: 1.3 Kvalitet.docx. Den väntar på granskning sedan kl." in after
    assert "1.3 Kvalitet.docx (" in after and "väntar på granskning sedan kl." in after

    again = upload(site["url"]["myrorna"], "1.3 Kvalitet.docx", b"ny version")
    after = visible(get(urllib.parse.urljoin(site["url"]["myrorna"] + "lamna", again.headers["Location"])).text)
    assert "Mottagen: 1.3 Kvalitet (2).docx. Den väntar på granskning" in after
    assert files_in(site["inbox"]) == ["myrorna/1.3 Kvalitet (2).docx", "myrorna/1.3 Kvalitet.docx"]


def test_another_partners_link_neither_shows_nor_writes_the_first_partners_folder(site):
    upload(site["url"]["myrorna"], "1.3 Myrornas utkast.docx", b"myrornas text")
    site["store"].write("review/myrorna/1.3.html", "<p>Myrornas granskning</p>".encode())

    theirs = get(site["url"]["verdandi"])
    assert "Delrapporter från Verdandi" in theirs.text
    assert "Myrornas utkast" not in theirs.text
    assert "Ni har inte laddat upp några filer ännu." in visible(theirs.text)
    assert get(site["url"]["verdandi"] + "granskning/1.3.html").status == 404  # Verdandi's own: none
    assert get(site["url"]["myrorna"] + "granskning/1.3.html").text == "<p>Myrornas granskning</p>"

    upload(site["url"]["verdandi"], "4.2 Motiv.md", b"Verdandis text")
    assert files_in(site["inbox"]) == ["myrorna/1.3 Myrornas utkast.docx", "verdandi/4.2 Motiv.md"]


def test_made_up_rotated_and_malformed_links_get_404_and_learn_nothing(site):
    old = site["url"]["myrorna"]
    issue_link(site["store"], PARTNER, "myrorna", site["key"], rotate=True)
    made_up = f"{site['base']}/l/{'Q' * 43}/"
    answers = [get(u) for u in (old, made_up, f"{site['base']}/l/kort/", old + "granskning/1.3.html",
                                f"{site['base']}/l/../outputs/portal/links.json", f"{site['base']}/inget")]

    assert {a.status for a in answers} == {404}
    assert len({a.body for a in answers}) == 1  # the same page whatever the reason
    text = visible(answers[0].text)
    assert "Sidan finns inte" in text
    assert "myrorna" not in answers[0].text.lower() and "Myrorna" not in text
    assert upload(old, "1.3 Kvalitet.docx", b"x").status == 404
    assert upload(made_up, "1.3 Kvalitet.docx", b"x").status == 404
    assert files_in(site["inbox"]) == []


def test_oversized_uploads_are_refused_before_anything_is_stored(site):
    url, big = site["url"]["myrorna"], os.urandom(MB + 1)

    by_header = upload(url, "1.3 Stor.docx", big + os.urandom(200 * 1024))  # declared size over the limit
    assert by_header.status == 413
    assert "Filen är större än 1 MB, som är gränsen." in visible(by_header.text)

    counted = upload(url, "1.3 Stor.docx", big)  # the declared size passes; the file is counted
    assert counted.status == 413

    body, ctype = form({}, "1.3 Stor.docx", big)  # no Content-Length at all (chunked)
    chunked = request("POST", url + "lamna", iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                      {"Content-Type": ctype, "Transfer-Encoding": "chunked"})
    assert chunked.status == 413

    body, ctype = form({}, "1.3 Liten.docx", b"a" * 5000)  # claims less than it sends: cut off, incomplete
    lying = request("POST", url + "lamna", body, {"Content-Type": ctype, "Content-Length": "1000"})
    assert lying.status == 400 and "Uppladdningen kom inte fram hel." in visible(lying.text)

    assert files_in(site["inbox"]) == []


def test_names_with_paths_or_control_characters_are_refused_in_swedish(site, tmp_path):
    url = site["url"]["myrorna"]
    for name in ["../1.3 Utanför.docx", "../../etc/1.3 x.docx", "verdandi/1.3 x.docx", "C:\\Users\\a\\1.3 x.docx"]:
        refused = upload(url, name, b"innehall")
        assert refused.status == 400, name
        text = visible(refused.text)
        assert "Filen togs inte emot" in text and "Filnamnet innehåller en sökväg (till exempel" in text
        assert 'aria-invalid="true"' in refused.text and 'aria-describedby="fil-hjalp fil-fel"' in refused.text
    refused = upload(url, "1.3 Rapport\x01\x1b.docx", b"innehall")
    assert refused.status == 400 and "osynliga styrtecken" in visible(refused.text)
    assert upload(url, "", b"innehall").status == 400
    assert files_in(site["inbox"]) == [] and not (tmp_path / "1.3 Utanför.docx").exists()


def test_the_chosen_piece_names_the_file(site):
    url = site["url"]["myrorna"]
    ok = upload(url, "Kvalitet i butiken.docx", b"text", {"delrapport": "1.3"})
    assert ok.status == 303 and (site["inbox"] / "myrorna" / "1.3 Kvalitet i butiken.docx").exists()

    conflict = upload(url, "2.1 Stöd.docx", b"text", {"delrapport": "1.3"})
    assert conflict.status == 400
    assert "Filnamnet börjar med delrapport 2.1, men du valde 1.3." in visible(conflict.text)
    assert re.search(r'<select id="delrapport"[^>]*aria-invalid="true"', conflict.text)
    assert '<option value="1.3" selected>' in conflict.text  # the choice is kept
    assert upload(url, "Stöd.docx", b"text", {"delrapport": "9.9"}).status == 400
    assert files_in(site["inbox"]) == ["myrorna/1.3 Kvalitet i butiken.docx"]


def test_a_half_sent_upload_never_reaches_the_inbox(site):
    parts = urllib.parse.urlsplit(site["url"]["myrorna"] + "lamna")
    body, ctype = form({}, "1.3 Halv.docx", os.urandom(300_000))
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
        s.sendall((f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {ctype}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:len(body) // 2])
    # The server has noticed once it answers the next request on another connection.
    assert upload(site["url"]["myrorna"], "1.3 Hel.docx", b"hel").status == 303
    assert files_in(site["inbox"]) == ["myrorna/1.3 Hel.docx"]


def test_nothing_from_a_file_name_or_a_report_reaches_a_page_unescaped(site):
    put(site["inbox"], "myrorna/1.3 <img src=x onerror=alert(1)>.md", "text")
    site["store"].write("feedback.json", json.dumps({"points": [{
        "id": "p1", "partner": "myrorna", "piece": "1.3", "kind_sv": "kommentar", "author": "<b>Granskare</b>",
        "text": "<script>alert('punkt')</script>", "anchor": "</ul><h1>rubrik</h1>", "status": "open"}]}).encode())

    page = get(site["url"]["myrorna"]).text

    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.md" in page
    assert "<script>" not in page and "&lt;script&gt;alert(&#39;punkt&#39;)&lt;/script&gt;" in page
    assert "<b>Granskare" not in page and "</ul><h1>" not in page
    assert "default-src 'none'" in get(site["url"]["myrorna"]).headers["Content-Security-Policy"]


def test_the_reviewer_downloads_the_draft_sees_the_changes_and_hands_back_comments(
        prefect_harness, tmp_path, config, key):
    from flows.build import build_draft
    from tasks.roundtrip.feedback import harvest_feedback

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Myrorna arbetar med kvalitetssäkring i alla butiker."]))
    build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx", "html"])
    put(inbox, "verdandi/4.2 Motiv.md", "Verdandi driver butiker för att skapa gemenskap.\n")
    second = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx", "html"])
    store = LocalStorage(out)
    token, _ = issue_link(store, REVIEWER, "Anna Svensson", key)
    partner_token, _ = issue_link(store, PARTNER, "myrorna", key)

    with running_portal(inbox, out, config) as base:
        url = f"{base}/l/{token}/"
        page = get(url)
        text = visible(page.text)
        assert "Granskning av utkastet" in text and "Välkommen, Anna Svensson." in text
        assert f"version {second['version']}" in text
        assert "Ladda ner utkastet som Word-fil" in text and "Öppna utkastet som webbsida" in text
        assert "Paket 4. Villkor för att driva verksamheterna" in text and "Ny: 4.2" in text
        links = dict((label, href) for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', page.text))

        docx = get(url + links["Ladda ner utkastet som Word-fil"])
        assert docx.headers["Content-Disposition"] == f'attachment; filename="utkast-{second["version"]}.docx"'
        assert docx.body == (out / "drafts" / second["version"] / "utkast.docx").read_bytes()
        changes = get(url + links["Ändringarna på webben"])
        assert changes.status == 200 and "Verdandi" in changes.text
        assert "sandbox" in changes.headers["Content-Security-Policy"]
        assert get(f"{base}/l/{partner_token}/" + links["Ladda ner utkastet som Word-fil"]).status == 404

        draft = Document(io.BytesIO(docx.body))
        comment_on_words(draft, "kvalitetssäkring i alla butiker", "Vad menas med kvalitetssäkring?", "Anna Svensson")
        buf = io.BytesIO()
        draft.save(buf)
        sent = upload(url, "utkast med kommentarer.docx", buf.getvalue())
        assert sent.status == 303
        assert (inbox / "feedback" / "Anna Svensson" / "utkast med kommentarer.docx").read_bytes() == buf.getvalue()
        assert "väntar på att läsas in sedan kl." in visible(get(url).text)

        harvest_feedback(LocalStorage(inbox), store, config)  # what the next build does first

        assert "läst: 1 synpunkt förd till partnerna" in visible(get(url).text)
        partner_page = visible(get(f"{base}/l/{partner_token}/").text)
        assert "Granskarnas synpunkter" in partner_page
        assert "kommentar från Anna Svensson" in partner_page and "Vad menas med kvalitetssäkring?" in partner_page


def test_utkast_invite_prints_a_link_the_service_opens_and_the_log_never_shows_it(tmp_path, key, capsys):
    from flows.cli import main

    out, inbox = tmp_path / "outputs", tmp_path / "inbox"
    inbox.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    assert main(["invite", "myrorna", "--out", str(out), "--base-url", base]) == 0
    first = capsys.readouterr().out
    assert first.startswith("Personal link for Myrorna (myrorna), generation 1:")
    link = first.splitlines()[1]
    assert re.fullmatch(rf"{base}/l/[A-Za-z0-9_-]{{43}}/", link)
    assert main(["invite", "--reviewer", "Anna Svensson", "--out", str(out), "--base-url", base]) == 0
    assert "Personal link for reviewer Anna Svensson, generation 1:" in capsys.readouterr().out
    assert main(["invite", "myrorna", "--out", str(out), "--base-url", base, "--rotate"]) == 0
    rotated = capsys.readouterr().out
    new = rotated.splitlines()[1]
    assert new != link and "generation 2" in rotated and "The previous link no longer works." in rotated
    assert main(["invite", "okand", "--out", str(out)]) == 1
    assert "'okand' is not a partner" in capsys.readouterr().err
    assert main(["invite", "--out", str(out)]) == 2

    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "utkast"), "serve", "--inbox", str(inbox),
                                 "--out", str(out), "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Uvicorn running" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        assert get(new).status == 200 and get(link).status == 404
        assert upload(new, "1.3 Kvalitet.docx", b"text").status == 303
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    printed = log.read_text(errors="replace")
    assert "Serving the partners' and reviewers' pages at" in printed
    assert '"GET /l/#' in printed and "upload stored: myrorna/1.3 Kvalitet.docx" in printed
    for token in (link.rsplit("/", 2)[-2], new.rsplit("/", 2)[-2]):
        assert token not in printed
    assert (inbox / "myrorna" / "1.3 Kvalitet.docx").read_bytes() == b"text"
