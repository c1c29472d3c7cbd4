"""Helpers for tests that run the coordinator's stack for real (scripts/stack.py): start and
stop it in a folder of its own, talk to its API with its auth string, find which worker runs a
flow run, kill a worker the way a machine that loses power would, and look at sockets."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from datetime import datetime, timezone
from pathlib import Path

from tests.conftest import ROOT

STACK = ROOT / "scripts" / "stack.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 300.0, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def postgres_installed() -> bool:
    from scripts.stack import postgres_bin

    try:
        postgres_bin()
    except SystemExit:
        return False
    return True


def private_base(prefix: str) -> Path:
    """A folder outside pytest's (which only root may enter), which the unprivileged user that
    runs PostgreSQL may pass through."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o711)
    return base


def copy_checkout(home: Path) -> Path:
    """This checkout without its inbox, outputs and local state: what the workers run flows from."""
    shutil.copytree(ROOT, home, ignore=shutil.ignore_patterns(
        ".venv", ".git", "outputs", "inbox", ".local", "__pycache__", ".pytest_cache", "*.egg-info",
        "bench-results"))
    (home / "inbox").mkdir()
    return home


@contextlib.contextmanager
def running_stack(base: Path, *, workers: int = 2, postgres: bool = True, env_extra: dict | None = None,
                  portal_port: int | None = None):
    """`stack up` in ``base`` (its own port, state, logs, secrets and PostgreSQL; the portal on
    ``portal_port`` when given), yielding what a test needs; `stack down` afterwards, whatever
    happened."""
    home = copy_checkout(base / "utkast")
    state = base / "stack.json"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API") and k != "PREFECT_LOGGING_LEVEL"}
    env.update(TMPDIR=str(base / "tmp"), **(env_extra or {}))
    (base / "tmp").mkdir(exist_ok=True)
    command = [sys.executable, str(STACK), "--port", str(port), "--home", str(home), "--state", str(state),
               "--prefect-home", str(base / "prefect"), "--postgres-dir", str(base / "postgres")]
    flags = [*(["--postgres"] if postgres else []), "--workers", str(workers),
             *(["--portal-port", str(portal_port)] if portal_port else [])]
    up = subprocess.run([*command, "up", *flags], env=env, capture_output=True, text=True, timeout=900)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        info = json.loads(state.read_text(encoding="utf-8"))
        client_env = read_env_file(base / "prefect.env")
        yield {**info, "home": home, "base": base, "command": command, "env": env, "up": up,
               "auth": client_env["PREFECT_API_AUTH_STRING"], "client_env": client_env, "port": port}
    finally:
        stack_down(command, env)
        assert not state.exists()


def stack_down(command: list[str], env: dict, timeout: float = 180) -> None:
    """`stack down`; a process that had to be killed (it did not end on its signal) is a
    warning in pytest's summary, so a slow teardown says which process it waited for."""
    down = subprocess.run([*command, "down"], env=env, capture_output=True, text=True, timeout=timeout)
    assert down.returncode == 0, down.stderr
    killed = [line for line in down.stdout.splitlines() if "so it was killed" in line]
    if killed:
        warnings.warn("stack down: " + "; ".join(killed), stacklevel=2)


def read_env_file(path: Path) -> dict[str, str]:
    from scripts.stack import read_env_file as read

    return read(path)


@contextlib.contextmanager
def api_settings(stack: dict):
    """Prefect settings of this process pointing at the stack, with its auth string."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: stack["api_url"], PREFECT_API_AUTH_STRING: stack["auth"]}):
        yield


def request(stack: dict, method: str, path: str, body: object = None, auth: str | None = None) -> int:
    """An HTTP request to the stack's API; the status code (401 when refused)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{stack['api_url']}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def read_events(stack: dict, name: str, since: datetime) -> list[dict]:
    """Every event called ``name`` the stack's server holds since ``since`` (POST
    /api/events/filter, then its next pages)."""
    def call(req: urllib.request.Request) -> dict:
        req.add_header("Authorization", "Basic " + base64.b64encode(stack["auth"].encode()).decode())
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    body = {"filter": {"event": {"name": [name]}, "occurred": {"since": since.isoformat(),
                                                               "until": datetime.now(timezone.utc).isoformat()}},
            "limit": 50}
    page = call(urllib.request.Request(f"{stack['api_url']}/events/filter", data=json.dumps(body).encode(),
                                       method="POST", headers={"Content-Type": "application/json"}))
    events = page["events"]
    while page.get("next_page"):
        page = call(urllib.request.Request(page["next_page"]))
        events += page["events"]
    return events


def heartbeat_gaps(events: list[dict]) -> dict[str, float]:
    """Per flow run (its id), the longest time in seconds between two of its heartbeat events."""
    times: dict[str, list[datetime]] = {}
    for event in events:
        run = event["resource"]["prefect.resource.id"].removeprefix("prefect.flow-run.")
        times.setdefault(run, []).append(datetime.fromisoformat(event["occurred"].replace("Z", "+00:00")))
    return {run: max((b - a).total_seconds() for a, b in zip(sorted(t), sorted(t)[1:]))
            for run, t in times.items() if len(t) > 1}


def post_events(stack: dict, events: list[dict]) -> int:
    """Send events the way a bucket notification does: POST /api/events, with the auth string."""
    return request(stack, "POST", "/events", events, auth=stack["auth"])


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def worker_of(stack: dict, pid: int) -> str | None:
    """The stack's name of the worker whose child ``pid`` is (a flow run's process)."""
    try:
        parent = parent_of(pid)
    except (OSError, ValueError):
        return None
    return next((name for name, p in stack["pids"].items() if p == parent and name.startswith("worker")), None)


def kill_worker(worker_pid: int, flow_pid: int | None = None) -> None:
    """SIGKILL a worker and the flow-run process it started (each in its process group, with
    pandoc and whatever else they started), as a machine that loses power would."""
    groups = {worker_pid}
    if flow_pid:
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(flow_pid))
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


@contextlib.contextmanager
def frozen(pid: int):
    """Process ``pid``'s group stopped (SIGSTOP) while the block runs, and let go on (SIGCONT)
    after it unless it was killed: what it is doing cannot finish while the caller looks.
    ProcessLookupError when the process has already ended."""
    group = os.getpgid(pid)
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGCONT)


def submitted_by(client, run_ids) -> dict[str, str]:
    """flow run id -> the stack's name of the last worker that started it (``worker-N``), from
    the run's own log in Prefect ("Worker 'utkast-worker-2' submitting flow run '…'", also on
    the run's page in the UI)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=list(run_ids))), limit=200)
    found = {}
    for entry in sorted(logs, key=lambda e: e.timestamp):
        match = re.search(r"Worker 'utkast-(worker-\d+)' submitting flow run '([0-9a-f-]+)'", entry.message)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table, size in (("tcp", 4), ("tcp6", 16)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] != "0A" or parts[9] not in inodes:
                continue
            address, port = parts[1].split(":")
            raw = bytes.fromhex(address)
            if size == 4:
                text = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                text = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            found.append((text, int(port, 16)))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                children.setdefault(parent_of(int(entry.name)), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
