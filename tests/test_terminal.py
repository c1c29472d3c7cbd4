"""What `utkast build` prints on a terminal: the real command in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.builders import make_docx, put

UTKAST = Path(sys.executable).parent / "utkast"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Runs `utkast build` with its own temporary Prefect server (a private PREFECT_HOME)."""
    base = tmp_path_factory.mktemp("terminal")
    inbox, out = base / "inbox", base / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Myrorna arbetar med kvalitet."]))
    put(inbox, "stadsmissionen/2.1 Stöd.docx", make_docx(["Stadsmissionen ger stöd."]))
    put(inbox, "verdandi/bilaga.pdf", b"%PDF-1.4")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    # UTKAST_HOME without a stack: no server to find, so the command starts a temporary one.
    env.update(PREFECT_HOME=str(base / "prefect"), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               UTKAST_HOME=str(base))

    def run(*options: str, change: str | None = None) -> str:
        if change:  # a new version of one report, so the build has something to do
            put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx([change]))
        done = subprocess.run([str(UTKAST), *options, "build", "--inbox", str(inbox), "--out", str(out),
                               "--no-review", "--formats", "docx"], env=env, cwd=base, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600)
        assert done.returncode == 0, done.stdout
        return done.stdout  # what the terminal shows: both streams, in order

    return run


def _repeated(output: str) -> dict[str, int]:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return {line: n for line, n in Counter(lines).items() if n > 1}


def test_build_prints_each_line_once_and_none_of_prefects(build):
    output = build()
    assert _repeated(output) == {}
    assert "Finished in state" not in output
    assert "Starting temporary server" not in output  # Prefect's own line
    # utkast's: one line saying a temporary server is used, and how to avoid it
    assert output.count("no Prefect server running here (python3 dev.py stack up starts one); "
                        "using a temporary server for this run") == 1
    for line in ("Inkorgen: 3 filer, 2 godtagna, 1 avvisade", "Konverterar 2 dokument",
                 "Slår ihop 2 delrapporter i 5 paket"):
        assert output.count(line) == 1, output
    assert "published." in output and "2 reports in the draft, 1 files rejected" in output


def test_verbose_adds_prefects_lines_and_still_shows_each_progress_line_once(build):
    output = build("-v", change="Myrorna arbetar med kvalitet varje vecka.")
    lines = output.splitlines()
    assert "Finished in state Completed()" in output
    assert "Beginning flow run" in output
    # A progress line comes once, through Prefect's console (with the run's name).
    inbox = [line for line in lines if "Inkorgen: 3 filer, 2 godtagna, 1 avvisade" in line]
    assert len(inbox) == 1 and "Flow run" in inbox[0], inbox
    assert "2 reports in the draft, 1 files rejected" in output


def test_a_build_with_nothing_changed_says_so_and_starts_nothing(build):
    output = build()
    assert "Nothing new since draft" in output and "0 converted in this run" in output
    assert "temporary server" not in output and "Inkorgen:" not in output  # no server, no run
