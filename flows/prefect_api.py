"""Which Prefect server a command runs its flow against.

``PREFECT_API_URL``, when set, decides. Else the stack of this checkout
(``python3 dev.py stack up``: ``.local/stack.json`` names its server) when its server
process runs and answers ``/api/health``; the stack's ``prefect.env`` (named in its state
file; ``.local/prefect.env``), when present, holds the API's auth string (read, never shown). Else there is none, and Prefect starts a
temporary server for the run (about ten seconds), which the command says in one line.

Standard library only, so the command decides before Prefect is imported.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

CHECKOUT = Path(__file__).resolve().parents[1]
TEMPORARY_HINT = ("utkast: no Prefect server running here (python3 dev.py stack up starts one); "
                  "using a temporary server for this run")
# What a client needs from the stack's prefect.env: the API's basic-auth string (the server's
# own setting, PREFECT_SERVER_API_AUTH_STRING, holds the same value).
AUTH = "PREFECT_API_AUTH_STRING"
SERVER_AUTH = "PREFECT_SERVER_API_AUTH_STRING"


@dataclass
class ServerChoice:
    """Where the flow runs: ``environment`` (PREFECT_API_URL as set), ``stack`` or ``temporary``;
    ``settings``: what to put in the environment before Prefect is imported."""

    source: str
    api_url: str | None = None
    settings: dict[str, str] = field(default_factory=dict, repr=False)  # may hold the auth string


def read_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` and quotes allowed, ``#`` comments skipped)."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key:
            found[key] = value
    return found


def choose_server(env: Mapping[str, str], stack: dict | None, stack_env: Mapping[str, str],
                  answers: Callable[[str, str | None], bool]) -> ServerChoice:
    """The decision: ``env`` (the command's environment), ``stack`` (the checkout's
    ``.local/stack.json``, None when absent or unreadable), ``stack_env`` (its
    ``prefect.env``), ``answers(api_url, auth)``: whether a running server answers there."""
    if env.get("PREFECT_API_URL"):
        return ServerChoice("environment", env["PREFECT_API_URL"])
    api_url = (stack or {}).get("api_url")
    if isinstance(api_url, str) and api_url.startswith(("http://", "https://")):
        auth = env.get(AUTH) or stack_env.get(AUTH) or stack_env.get(SERVER_AUTH)
        if answers(api_url, auth):
            settings = {"PREFECT_API_URL": api_url}
            if auth and not env.get(AUTH):
                settings[AUTH] = auth
            return ServerChoice("stack", api_url, settings)
    return ServerChoice("temporary")


def answers(api_url: str, auth: str | None, timeout: float = 2.0) -> bool:
    """Whether a Prefect server answers ``GET <api_url>/health``."""
    request = urllib.request.Request(f"{api_url.rstrip('/')}/health")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _running(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_server(env: Mapping[str, str] | None = None, checkout: Path | None = None) -> ServerChoice:
    """:func:`choose_server` for this checkout (``UTKAST_HOME``, else the one this code is in)."""
    env = os.environ if env is None else env
    home = Path(checkout or env.get("UTKAST_HOME") or CHECKOUT)
    stack = None
    if not env.get("PREFECT_API_URL"):
        try:
            stack = json.loads((home / ".local" / "stack.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stack = None
        if not isinstance(stack, dict) or not _running((stack.get("pids") or {}).get("server")):
            stack = None  # a state file left behind by a stack that is gone
    # The stack notes where it keeps its clients' settings (next to its state file).
    env_file = Path((stack or {}).get("env_file") or home / ".local" / "prefect.env")
    try:
        stack_env = read_env_file(env_file.read_text(encoding="utf-8")) if stack else {}
    except OSError:
        stack_env = {}
    return choose_server(env, stack, stack_env, answers)
