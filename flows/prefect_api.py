"""Which Prefect server a command runs its flow against.

``PREFECT_API_URL``, when set, decides. Else the stack of this checkout
(``python3 dev.py stack up``: ``.local/stack.json``, or the state file ``UTKAST_STACK_STATE``
names, which the stack sets for its own processes, names its server) when its server
process runs and answers ``/api/health``; the stack's ``prefect.env`` (named in its state
file; ``.local/prefect.env``), when present, holds the API's auth string (read, never shown).
Else there is none, and Prefect starts a temporary server for the run, which the command says
in one line. That server is given as long to start as the stack's (:data:`START_SECONDS`):
Prefect's own 20 s were not enough for its first start on a fresh machine (making its
database) on two busy cores, and the README's first command failed there.

Standard library only, so the command decides before Prefect is imported.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from tasks.core.parallel import process_running

CHECKOUT = Path(__file__).resolve().parents[1]
TEMPORARY_HINT = ("utkast: no Prefect server running here (python3 dev.py stack up starts one); "
                  "using a temporary server for this run")
# What a client needs from the stack's prefect.env: the API's basic-auth string (the server's
# own setting, PREFECT_SERVER_API_AUTH_STRING, holds the same value).
AUTH = "PREFECT_API_AUTH_STRING"
SERVER_AUTH = "PREFECT_SERVER_API_AUTH_STRING"
# How long a Prefect server (the stack's or a temporary one), and the stack's other services,
# may take to start: a cold server takes ~20 s on two cores; much longer when the machine is busy.
START_SECONDS = 180
STARTUP = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"  # Prefect's wait for a temporary server


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
    return ServerChoice("temporary", settings={} if env.get(STARTUP) else {STARTUP: str(START_SECONDS)})


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


STATE_VARIABLE = "UTKAST_STACK_STATE"


def running_stack(env: Mapping[str, str] | None = None, checkout: Path | None = None) -> dict | None:
    """The state of this checkout's stack while its server process runs, else None: the file
    ``UTKAST_STACK_STATE`` names, else ``.local/stack.json`` of the checkout
    (``UTKAST_HOME``, else the one this code is in)."""
    env = os.environ if env is None else env
    home = Path(checkout or env.get("UTKAST_HOME") or CHECKOUT)
    path = Path(env.get(STATE_VARIABLE) or home / ".local" / "stack.json")
    try:
        stack = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stack, dict) or not process_running((stack.get("pids") or {}).get("server")):
        return None  # a state file left behind by a stack that is gone
    return stack


def portal_url(configured: str = "", env: Mapping[str, str] | None = None) -> str:
    """The address of the partners' and reviewers' pages for links in e-mail and from
    ``utkast invite``: :func:`tasks.portal.links.portal_base_url` with the portal of this
    checkout's running stack (its state notes the port it got)."""
    from tasks.portal.links import portal_base_url

    env = os.environ if env is None else env
    return portal_base_url(configured, (running_stack(env) or {}).get("portal_url"), env)


def find_server(env: Mapping[str, str] | None = None, checkout: Path | None = None) -> ServerChoice:
    """:func:`choose_server` for this checkout (``UTKAST_HOME``, else the one this code is in)."""
    env = os.environ if env is None else env
    home = Path(checkout or env.get("UTKAST_HOME") or CHECKOUT)
    stack = None if env.get("PREFECT_API_URL") else running_stack(env, checkout)
    # The stack notes where it keeps its clients' settings (next to its state file).
    env_file = Path((stack or {}).get("env_file") or home / ".local" / "prefect.env")
    try:
        stack_env = read_env_file(env_file.read_text(encoding="utf-8")) if stack else {}
    except OSError:
        stack_env = {}
    return choose_server(env, stack, stack_env, answers)


# --- who processes uploads ------------------------------------------------------------------

# The deployments that read what people upload on their pages (prefect.yaml), by what they read.
UPLOAD_DEPLOYMENTS = {"intake/inbox-watch": "partners' files", "harvest_comments/comments-harvest": "reviewers' files"}
NO_SERVER_LINE = ("no Prefect server: uploads are stored, but nothing reads them until someone runs `utkast intake` "
                  "or `utkast build` (start one with `python3 dev.py stack up`, or set PREFECT_API_URL)")


@dataclass(frozen=True)
class Processing:
    """Whether uploads get read as they arrive, and one line that says so (no secret in it)."""

    ok: bool
    line: str


def describe_processing(api_url: str | None, reachable: bool, deployments: Mapping[str, dict | None],
                        pools: Mapping[str, dict | None]) -> Processing:
    """The decision: ``deployments`` by ``flow/deployment`` name (None: not deployed) and the
    work ``pools`` they use (None: no such pool), as the Prefect API gave them."""
    if not api_url:
        return Processing(False, NO_SERVER_LINE)
    if not reachable:
        return Processing(False, f"the Prefect server at {api_url} does not answer: uploads are stored, but nothing "
                                 "reads them until it runs again (`python3 dev.py stack status`)")
    problems, fine = [], []
    for name, what in UPLOAD_DEPLOYMENTS.items():
        deployment = deployments.get(name)
        pool_name = (deployment or {}).get("work_pool_name")
        pool = pools.get(pool_name) if pool_name else None
        if deployment is None:
            problems.append(f"{what}: {name} is not deployed (`prefect --no-prompt deploy --all`)")
        elif deployment.get("paused"):
            problems.append(f"{what}: {name} is paused")
        elif pool is None or pool.get("status") != "READY":
            state = "paused" if pool and pool.get("status") == "PAUSED" else "has no worker running"
            problems.append(f"{what}: the work pool {pool_name!r} of {name} {state}")
        else:
            fine.append(name)
    if problems:
        return Processing(False, f"uploads are stored but not read as they arrive ({'; '.join(problems)}); "
                                 f"the Prefect server is {api_url}")
    return Processing(True, f"uploads are read as they arrive ({', '.join(fine)} on {api_url})")


def probe_processing(api_url: str | None, auth: str | None, timeout: float = 3.0) -> Processing:
    """:func:`describe_processing` for the server at ``api_url`` (None: no server), asked now."""
    if not api_url:
        return describe_processing(None, False, {}, {})

    def get(path: str) -> dict | None:
        request = urllib.request.Request(f"{api_url.rstrip('/')}/{path}")
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                found = json.loads(response.read().decode("utf-8"))
                return found if isinstance(found, dict) else None
        except (urllib.error.URLError, OSError, ValueError):
            return None

    if not answers(api_url, auth, timeout):
        return describe_processing(api_url, False, {}, {})
    deployments = {name: get(f"deployments/name/{urllib.parse.quote(name)}") for name in UPLOAD_DEPLOYMENTS}
    pools = {p: get(f"work_pools/{urllib.parse.quote(p)}")
             for p in {(d or {}).get("work_pool_name") for d in deployments.values()} if isinstance(p, str)}
    return describe_processing(api_url, True, deployments, pools)


def upload_processing(env: Mapping[str, str] | None = None, checkout: Path | None = None) -> Processing:
    """Whether uploads are read as they arrive, for the server this environment uses
    (:func:`find_server`: PREFECT_API_URL, else this checkout's running stack)."""
    env = os.environ if env is None else env
    choice = find_server(env, checkout)
    auth = choice.settings.get(AUTH) or env.get(AUTH)
    return probe_processing(choice.api_url, auth)
