"""`utkast watch`: which changes in a local inbox become `inbox.file.arrived` events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from watchfiles import Change

from flows.watch import EVENT, arrival_event, arrived_keys
from tests.builders import put
from tests.stacks import wait_for


def test_new_and_changed_partner_files_arrive_and_the_rest_does_not(tmp_path):
    inbox = tmp_path / "inbox"
    put(inbox, "myrorna/1.3 Kvalitet.docx", b"x")
    put(inbox, "myrorna/~$1.3 Kvalitet.docx", b"word lock file")
    put(inbox, "verdandi/.~lock.4.2.odt#", b"libreoffice lock file")
    put(inbox, "verdandi/4.2 Motiv.md", "text")
    put(inbox, "feedback/granskare.docx", b"returned draft")
    put(inbox, "lös fil.txt", "text")
    (inbox / "forum").mkdir()
    changes = {
        (Change.added, str(inbox / "myrorna/1.3 Kvalitet.docx")),
        (Change.modified, str(inbox / "myrorna/1.3 Kvalitet.docx")),
        (Change.added, str(inbox / "myrorna/~$1.3 Kvalitet.docx")),
        (Change.added, str(inbox / "verdandi/.~lock.4.2.odt#")),
        (Change.modified, str(inbox / "verdandi/4.2 Motiv.md")),
        (Change.added, str(inbox / "feedback/granskare.docx")),
        (Change.added, str(inbox / "lös fil.txt")),
        (Change.added, str(inbox / "forum")),
        (Change.deleted, str(inbox / "stadsmissionen/2.1 Stöd.docx")),
    }
    assert arrived_keys(changes, inbox) == ["lös fil.txt", "myrorna/1.3 Kvalitet.docx", "verdandi/4.2 Motiv.md"]


def test_the_event_names_the_partner_folder_the_inbox_and_the_outputs():
    event = arrival_event("myrorna/1.3 Kvalitet.docx", "/srv/inbox", "/srv/outputs")
    assert event == {
        "event": EVENT,
        "resource": {"prefect.resource.id": "utkast.inbox.myrorna", "prefect.resource.name": "myrorna"},
        "payload": {"key": "myrorna/1.3 Kvalitet.docx", "inbox": "/srv/inbox", "out": "/srv/outputs"},
    }
    assert arrival_event("lös fil.txt", "i", "o")["resource"]["prefect.resource.id"] == "utkast.inbox._"


def test_watch_without_a_prefect_server_says_what_to_set(monkeypatch, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import main

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):  # also when a test server is up
        assert main(["watch", "--inbox", "inbox"]) == 1
    assert "set PREFECT_API_URL" in capsys.readouterr().err


@pytest.mark.parametrize("stop, sigint", [(signal.SIGINT, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_IGN)],
                         ids=["ctrl-c at a terminal", "sigterm, started from a script"])
def test_the_watcher_stops_by_itself_on_ctrl_c_and_on_sigterm(tmp_path, stop, sigint):
    """Ctrl-C at a terminal, or SIGTERM from a service manager or `kill` (a process a script
    started with `&` ignores Ctrl-C): either way `utkast watch` ends by itself, through the
    path that sends the events it holds, and says so."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    log = tmp_path / "watch.log"
    # No event is sent (no file arrives), so the address need not answer.
    env = dict(os.environ, PREFECT_API_URL="http://127.0.0.1:9/api", PYTHONUNBUFFERED="1")
    with open(log, "wb") as fh:
        watcher = subprocess.Popen([str(Path(sys.executable).parent / "utkast"), "watch", "--inbox", str(inbox),
                                    "--out", str(tmp_path / "outputs")], env=env, stdout=fh,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
    def started() -> bool:
        assert watcher.poll() is None, log.read_text(errors="replace")
        return "Watching" in log.read_text(errors="replace")

    try:
        wait_for("the watcher to start", started, timeout=120, every=0.2)
        os.killpg(watcher.pid, stop)
        code = watcher.wait(timeout=60)
    finally:
        if watcher.poll() is None:  # never left behind; the test has failed by then
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.wait(timeout=30)
    printed = log.read_text(errors="replace")
    assert code == 0, printed
    assert printed.rstrip().endswith("Stopped watching."), printed
