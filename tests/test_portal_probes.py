"""The probes of a hostile tester, re-run against the real service over HTTP: every one ends
with nothing lost, nothing stored that was refused, no personnummer in a log, address or
event, and a Swedish answer where there used to be an English 500."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tasks.portal.links import KEY_ENV, LINKS_KEY, PARTNER, issue_link, load_key
from tasks.portal.uploads import upload_dir
from tasks.portal.web import from_another_site
from tasks.storage.local import LocalStorage
from tests.builders import make_docx, put
from tests.portal_server import form, get, request, running_portal, upload
from tests.test_s3_faults import private_bucket  # noqa: F401  (a SeaweedFS of the test's own)

PERSONNUMMER = "19850101-2382"  # valid check digit


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "nyckel-för-sonderna-" + "p" * 24)
    return load_key()


@pytest.fixture
def site(tmp_path, config, key):
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    token, _ = issue_link(LocalStorage(out), PARTNER, "myrorna", key)
    with running_portal(inbox, out, config) as base:
        yield {"base": base, "inbox": inbox, "out": out, "url": f"{base}/l/{token}/"}


def visible(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def stored(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*") if p.is_file() and not p.name.startswith(".")}


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["1.3 " + "å" * 140 + ".docx", "1.3 Rapport 😀🎉" + "😀" * 60 + ".docx",
                                  "1.3 " + "ö" * 149 + ".docx"])
def test_long_non_ascii_names_are_stored_shortened_in_bytes(site, name):
    data = make_docx(["Kvalitet i butiken."])
    sent = upload(site["url"], name, data)
    assert sent.status == 303
    (kept,) = stored(site["inbox"] / "myrorna").items()
    assert kept[1] == data and kept[0].endswith(".docx") and kept[0].startswith("1.3 ")
    assert len(kept[0].encode("utf-8")) <= 200
    page = visible(get(urllib.parse.urljoin(site["url"] + "lamna", sent.headers["Location"])).text)
    assert f"Mottagen: {kept[0]}. Den väntar på granskning" in page


def test_a_name_the_storage_refuses_is_a_swedish_400(site, monkeypatch):
    from tasks.storage.base import NameTooLong

    def refuse(self, key, source, content_type=None):
        raise NameTooLong(key)

    monkeypatch.setattr(LocalStorage, "create_file", refuse)
    sent = upload(site["url"], "1.3 Kvalitet.docx", b"text")
    assert sent.status == 400
    assert "Filnamnet är för långt för att sparas. Ge filen ett kortare namn" in visible(sent.text)
    assert not (site["inbox"] / "myrorna").exists()


# --- requests from elsewhere, methods, slow senders -------------------------------------------------


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "null", "Sec-Fetch-Site": "cross-site"}])
def test_a_form_posted_from_another_site_is_refused_and_nothing_stored(site, headers):
    body, ctype = form({}, "1.3 Smuggel.docx", b"x")
    answer = request("POST", site["url"] + "lamna", body, {"Content-Type": ctype, **headers})
    assert answer.status == 403 and "Formuläret skickades från en annan webbplats" in visible(answer.text)
    assert not (site["inbox"] / "myrorna").exists()


def test_the_same_site_decision():
    assert not from_another_site({"host": "utkast.example.se", "origin": "https://utkast.example.se",
                                  "sec-fetch-site": "same-origin"})
    assert not from_another_site({"host": "127.0.0.1:8080"})  # a script: no browser was tricked
    # Chromium's own form under Referrer-Policy: no-referrer: Origin null, but same-origin.
    assert not from_another_site({"host": "127.0.0.1:8080", "origin": "null", "sec-fetch-site": "same-origin"})
    assert from_another_site({"host": "utkast.example.se", "origin": "https://utkast.example.se.evil.example"})
    assert from_another_site({"host": "utkast.example.se", "sec-fetch-site": "same-site"})


def test_a_wrong_method_answers_405_with_allow_in_swedish(site):
    answer = request("GET", site["url"] + "lamna")
    assert answer.status == 405 and answer.headers["Allow"] == "POST"
    assert "Sidan kan inte användas på det sättet." in visible(answer.text)


def test_an_upload_that_trickles_in_is_broken_off_and_nothing_is_stored(tmp_path, config, key):
    intake = config.settings.intake.model_copy(update={"max_upload_seconds": 2})
    slow = dataclasses.replace(config, settings=config.settings.model_copy(update={"intake": intake}))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    token, _ = issue_link(LocalStorage(out), PARTNER, "myrorna", key)
    body, ctype = form({}, "1.3 Långsam.docx", b"y" * 200)
    with running_portal(inbox, out, slow) as base:
        path = urllib.parse.urlsplit(f"{base}/l/{token}/lamna")
        with socket.create_connection((path.hostname, path.port), timeout=30) as sock:
            sock.sendall(f"POST {path.path} HTTP/1.1\r\nHost: {path.netloc}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode())
            answer = b""
            for i in range(0, len(body), 40):  # 40 bytes a second: the whole would take ~8 s
                try:
                    sock.sendall(body[i:i + 40])
                except OSError:
                    break
                sock.settimeout(1)
                try:
                    answer += sock.recv(65536)
                    break
                except socket.timeout:
                    continue
            sock.settimeout(10)
            while b"</html>" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
    assert answer.startswith(b"HTTP/1.1 408")
    assert "Uppladdningen tog för lång tid" in answer.decode("utf-8", "replace")
    assert list(inbox.rglob("*")) == []


# --- what the server keeps of uploads -------------------------------------------------------------


def test_what_a_killed_server_left_of_an_upload_is_cleared_at_the_next_start(tmp_path, config, key):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = upload_dir() / f"{dead.stdout.strip()}-abc123"
    left.write_bytes(b"half of a partner's report")
    mine = upload_dir() / f"{os.getpid()}-still-mine"
    mine.write_bytes(b"an upload of this process")
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    try:
        with running_portal(inbox, out, config):
            assert not left.exists() and mine.exists()
    finally:
        mine.unlink(missing_ok=True)


# --- the verdict on the page, whatever the name holds ------------------------------------------------


def test_the_page_shows_each_files_true_verdict_when_its_name_holds_a_personnummer(
        prefect_harness, tmp_path, config, key):
    from flows.intake import intake

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, f"myrorna/1.3 Kvalitet {PERSONNUMMER}.docx", make_docx(["Myrorna arbetar med kvalitet i butiken."]))
    put(inbox, f"myrorna/2.1 Intervju {PERSONNUMMER}.pdf", b"%PDF-1.4 not editable")
    intake(inbox=str(inbox), out=str(out), review=False)
    assert PERSONNUMMER not in (out / "status.json").read_text(encoding="utf-8")
    token, _ = issue_link(LocalStorage(out), PARTNER, "myrorna", key)
    with running_portal(inbox, out, config) as base:
        page = visible(get(f"{base}/l/{token}/").text)
    assert f"1.3 Kvalitet {PERSONNUMMER}.docx" in page  # the partner sees their own file's name
    assert re.search(rf"1\.3 Kvalitet {PERSONNUMMER}\.docx \([^)]*\) ?: mottagen som delrapport 1\.3", page)
    assert re.search(rf"2\.1 Intervju {PERSONNUMMER}\.pdf \([^)]*\) ?: avvisad: PDF-filer", page)
    assert "ersatt av en nyare fil" not in page


# --- personal data from names: not in the log, the address or Prefect's events ----------------------


def prefect_events(api: str, since: str, wanted: int, timeout: float = 60) -> list[dict]:
    """The ``inbox.file.arrived`` events Prefect's database holds from ``since`` on."""
    import httpx

    deadline = time.monotonic() + timeout
    query = {"filter": {"event": {"name": ["inbox.file.arrived"]}, "occurred": {"since": since}}, "limit": 50}
    while True:
        found = httpx.post(f"{api}/events/filter", json=query).json()["events"]
        if len(found) >= wanted or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_a_personnummer_in_an_uploaded_name_reaches_no_log_address_or_event(prefect_harness, tmp_path, key):
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    token, _ = issue_link(LocalStorage(out), PARTNER, "myrorna", key)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PREFECT_API_URL": api}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "utkast"), "serve", "--inbox", str(inbox),
                                 "--out", str(out), "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Uvicorn running" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/l/{token}/"
        since = datetime.now(timezone.utc).isoformat()
        sent = upload(url, f"1.1 Översikt {PERSONNUMMER}.docx", make_docx(["Översikt."]))
        assert sent.status == 303 and PERSONNUMMER not in sent.headers["Location"]
        shown = get(urllib.parse.urljoin(url + "lamna", sent.headers["Location"]))
        assert f"1.1 Översikt {PERSONNUMMER}.docx" in visible(shown.text)  # the partner's own page: theirs
        events = prefect_events(api, since, 1)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    printed = log.read_text(errors="replace")
    assert "upload stored: myrorna/1.1 Översikt [personnummer borttaget].docx" in printed
    assert '"GET /l/#' in printed and "POST /l/#" in printed  # the access log is there
    assert PERSONNUMMER not in printed and "850101-2382" not in printed
    assert [e["payload"]["key"] for e in events] == ["myrorna/1.1 Översikt [personnummer borttaget].docx"]
    assert PERSONNUMMER not in json.dumps(events)
    (kept,) = (inbox / "myrorna").iterdir()
    assert kept.name == f"1.1 Översikt {PERSONNUMMER}.docx"  # the original is kept as sent


# --- storage faults ----------------------------------------------------------------------------------


def test_a_damaged_links_file_is_a_swedish_503_and_a_clear_error_for_the_coordinator(site, capsys):
    from flows.cli import main

    (site["out"] / LINKS_KEY).write_text("{ this is not json", encoding="utf-8")
    page = get(site["url"])
    assert page.status == 503 and page.headers["Retry-After"] == "120"
    assert "Tjänsten är inte tillgänglig just nu" in visible(page.text) and '<html lang="sv">' in page.text
    health = get(site["base"] + "/health")
    assert health.status == 503 and "portal/links.json cannot be read" in health.text
    assert main(["invite", "verdandi", "--out", str(site["out"])]) == 1
    err = capsys.readouterr().err
    assert "portal/links.json in the outputs cannot be read" in err and "Traceback" not in err
    assert (site["out"] / LINKS_KEY).read_text(encoding="utf-8") == "{ this is not json"  # left for repair


def test_a_full_disk_is_a_swedish_503_and_nothing_half_stored(site, monkeypatch):
    import errno
    import shutil

    def full(source, target, *args, **kwargs):
        target.write(source.read(2))  # the disk fills up part-way through the copy
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", full)
    sent = upload(site["url"], "1.3 Kvalitet.docx", b"text")
    assert sent.status == 503 and "Försök igen om en stund" in visible(sent.text)
    assert [p.name for p in (site["inbox"] / "myrorna").iterdir()] == []  # no half file, no temporary


def test_an_unreachable_bucket_is_a_swedish_503_and_health_says_so(private_bucket, config, key):
    from scripts.local_bucket import stop
    from tasks.storage import open_storage

    root = f"s3://{private_bucket.bucket}/down"
    token, _ = issue_link(open_storage(f"{root}/outputs"), PARTNER, "myrorna", key)
    with running_portal(f"{root}/inbox", f"{root}/outputs", config) as base:
        assert get(f"{base}/health").text == "ok"
        stop(private_bucket.dir)
        page = get(f"{base}/l/{token}/")
        assert page.status == 503 and "Tjänsten är inte tillgänglig just nu" in visible(page.text)
        assert upload(f"{base}/l/{token}/", "1.3 Kvalitet.docx", b"x").status == 503
        health = get(f"{base}/health")
        assert health.status == 503 and "unreachable" in health.text


def test_an_unforeseen_error_is_a_swedish_500_page(site, monkeypatch):
    import tasks.portal.app

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(tasks.portal.app, "partner_view", broken)
    page = get(site["url"])
    assert page.status == 500 and '<html lang="sv">' in page.text
    assert "<title>Något gick fel – " in page.text and "Försök igen om en stund" in visible(page.text)
