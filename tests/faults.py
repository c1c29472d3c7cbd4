"""Helpers for fault tests: run ``utkast`` as a separate process (and kill it), and check
that what a run left behind is consistent.

The checks read through the :class:`~tasks.storage.Storage` interface only, so the same
checks apply to a local folder and to an S3 bucket.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from tasks.storage.base import Storage
from tasks.storage.state import STATE_KEY

UTKAST = Path(sys.executable).with_name("utkast")


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a ``utkast`` subprocess: offline Prefect, and the test harness's
    server when one is running (so the process need not start its own)."""
    env = dict(os.environ, DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_LOGGING_LEVEL="WARNING")
    try:
        from prefect.settings import PREFECT_API_URL

        if PREFECT_API_URL.value():
            env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    except ImportError:
        pass
    env.update(extra)
    return env


def start_cli(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``utkast ARGS`` in its own process group (so it can be killed with its children);
    stdout and stderr go to ``log``."""
    fh = open(log, "wb")
    return subprocess.Popen([str(UTKAST), *args], stdout=fh, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env or cli_env(), start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (pandoc, a Prefect server), like a
    machine that loses power would."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_for(condition, proc: subprocess.Popen | None = None, limit: float = 600) -> bool:
    """Poll ``condition()`` until true; False if ``proc`` ended first or ``limit`` passed."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return condition()
        time.sleep(0.02)
    return False


def process_state(pid: int) -> str:
    """A process's state from /proc (``Z``: ended, not yet reaped); ``X`` when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def ended(pid: int) -> bool:
    return process_state(pid) in ("Z", "X")


def torn_files(out: Storage) -> list[str]:
    """Objects that are half-written or unreadable: temporary names, JSON that does not parse,
    Word/zip files that do not open, PDFs without an end marker, empty pages."""
    problems = []
    for entry in out.list():
        key = entry.key
        name = key.rsplit("/", 1)[-1]
        if name.endswith((".tmp", ".part")):
            problems.append(f"{key}: temporary file left behind")
            continue
        if name.endswith(".lock"):
            continue
        data = out.read(key)
        try:
            if name.endswith(".json"):
                json.loads(data)
            elif name.endswith((".docx", ".odt")):
                from docx import Document

                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    if z.testzip() is not None:
                        raise ValueError("bad member")
                if name.endswith(".docx"):
                    Document(io.BytesIO(data))
            elif name.endswith(".pdf"):
                if not data.startswith(b"%PDF") or b"%%EOF" not in data[-1024:]:
                    raise ValueError("no %%EOF")
            elif name.endswith((".html", ".md", ".txt")):
                if not data.strip():
                    raise ValueError("empty")
                data.decode("utf-8")
        except Exception as exc:  # anything unreadable is what this check is for
            problems.append(f"{key}: {type(exc).__name__}: {exc}")
    return problems


def inconsistencies(out: Storage, inbox: Storage) -> list[str]:
    """What a later run would trust wrongly: normalised text that does not come from the
    inbox file its metadata names, state that points at missing outputs, a ``latest.json``
    that points at an incomplete draft."""
    problems = []
    keys = {e.key for e in out.list()}
    sources = {e.key for e in inbox.list()}
    for key in sorted(k for k in keys if k.startswith("normalised/") and k.endswith(".json")):
        meta = json.loads(out.read(key))
        md = key[:-5] + ".md"
        if md not in keys:
            problems.append(f"{key}: no {md}")
        if meta["source"] not in sources:
            problems.append(f"{key}: source {meta['source']} is not in the inbox")
        elif hashlib.sha256(inbox.read(meta["source"])).hexdigest() != meta["sha256"]:
            problems.append(f"{key}: sha256 does not match {meta['source']}")
    state_text = out.read_text(STATE_KEY)
    if state_text:
        state = json.loads(state_text)
        for slot, report in state.get("reports", {}).items():
            if report["md_key"] not in keys:
                problems.append(f"state: report {slot} -> missing {report['md_key']}")
            elif report.get("ast_key") and report["ast_key"] not in keys:
                problems.append(f"state: report {slot} -> missing {report['ast_key']}")
            else:
                meta_key = report["md_key"][:-3] + ".json"
                if meta_key not in keys or json.loads(out.read(meta_key))["sha256"] != report["sha256"]:
                    problems.append(f"state: report {slot} does not match {meta_key}")
        for name in state.get("media", []):
            if f"normalised/media/{name}" not in keys:
                problems.append(f"state: media {name} missing")
    latest_text = out.read_text("drafts/latest.json")
    if latest_text:
        latest = json.loads(latest_text)
        if latest["manifest"] not in keys:
            problems.append(f"latest.json -> missing {latest['manifest']}")
        for fmt, key in latest["formats"].items():
            if key not in keys:
                problems.append(f"latest.json -> missing {key}")
    return problems
