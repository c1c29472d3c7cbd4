#!/usr/bin/env python3
"""The coordinator's Prefect stack on this machine: server + UI, deployments, a worker, and
the partners' and reviewers' pages (`utkast serve`).

    python3 dev.py stack up       # start it (about half a minute) and print the addresses
    python3 dev.py stack status   # is it running, where
    python3 dev.py stack down     # stop exactly the processes `up` started

`up` starts `prefect server start` on 127.0.0.1 (SQLite in .local/prefect, telemetry and
analytics off), waits until it answers, creates the process work pool `utkast` and the
task concurrency limit of the language checker, deploys everything in prefect.yaml
(`prefect --no-prompt deploy --all`), starts a worker on the pool and `utkast serve` on
127.0.0.1 (port 8080, or a free one when 8080 is taken; `--portal-port`), over the checkout's
inbox and outputs and with PREFECT_API_URL set, so uploads start the intake. The PIDs go to
.local/stack.json; logs to .local/logs/. Only the Python standard library is used here;
the `prefect` command comes from .venv (or PATH).

Options (for tests and a second stack next to the first): --port, --home (the checkout the
worker runs flows from: UTKAST_HOME), --state (the JSON file with the PIDs), --prefect-home,
--portal-port.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POOL = "utkast"
# Tag of the language-review task; at most this many checker calls run at once (all runs, all workers).
CHECKER_TAG, CHECKER_LIMIT = "language-checker", 2
START_TIMEOUT = 180  # a cold server takes ~20 s on two cores; much longer when the machine is busy


def prefect_command() -> list[str]:
    for candidate in (ROOT / ".venv" / "bin" / "prefect", Path(sys.executable).parent / "prefect"):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("prefect")
    if not found:
        sys.exit("stack: the `prefect` command was not found; run `python3 dev.py test` (or build) once to set up .venv")
    return [found]


def stack_env(port: int, prefect_home: Path, home: Path) -> dict[str, str]:
    """The environment of every process of the stack (and of the flow runs the worker starts)."""
    env = dict(os.environ)
    env.update({
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "UTKAST_HOME": str(home),
    })
    env.pop("PREFECT_API_KEY", None)  # never send a Prefect Cloud key to the local server
    env.pop("PREFECT_PROFILE", None)
    return env


def utkast_command() -> list[str]:
    """The `utkast` console script next to the `prefect` one (the same .venv)."""
    return [str(Path(prefect_command()[0]).parent / "utkast")]


def portal_port(wanted: int | None) -> int:
    """The port `utkast serve` gets: the one asked for, else 8080 when free, else a free one."""
    if wanted:
        return wanted
    for port in (8080, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise SystemExit("stack: no free port for the portal")


def alive(pid: int) -> bool:
    """True when ``pid`` runs (not a zombie) and is not a reused PID of another program."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False
    # Right after the start the command line may still be empty (between fork and exec).
    return not cmdline or b"prefect" in cmdline or b"utkast" in cmdline


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start(command: list[str], env: dict, log: Path, cwd: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


def run(command: list[str], env: dict, cwd: Path, log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"stack: `{' '.join(command[-4:])}` failed (exit {done.returncode}):\n{tail}")


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stop_pid(pid: int, grace: float = 20.0) -> None:
    """Stop a process `up` started, with the children it started (its own process group)."""
    if not alive(pid):
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)  # started with start_new_session: the group is ours
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not alive(pid):
                return
            time.sleep(0.2)


def up(args) -> int:
    state_path, home = Path(args.state), Path(args.home).resolve()
    prefect_home = Path(args.prefect_home).resolve()
    state = read_state(state_path)
    if state and any(alive(pid) for pid in state["pids"].values()):
        print(f"The stack is already running: Prefect UI at {state['ui_url']}")
        return 0
    api_url, ui_url = f"http://127.0.0.1:{args.port}/api", f"http://127.0.0.1:{args.port}"
    env = stack_env(args.port, prefect_home, home)
    logs = state_path.parent / "logs"
    prefect = prefect_command()
    pids: dict[str, int] = {}
    portal_url = None

    def save() -> None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(json.dumps({"pids": pids, "api_url": api_url, "ui_url": ui_url,
                                          "portal_url": portal_url,
                                          "prefect_home": str(prefect_home), "home": str(home),
                                          "logs": str(logs)}, indent=2), encoding="utf-8")

    if healthy(api_url):
        sys.exit(f"stack: something already answers at {api_url}; stop it or choose another --port")
    print(f"Starting the Prefect server on {ui_url} (PREFECT_HOME={prefect_home}) ...", flush=True)
    pids["server"] = start([*prefect, "server", "start", "--host", "127.0.0.1", "--port", str(args.port),
                            "--analytics-off"], env, logs / "server.log", home)
    save()  # so `down` can stop it even if the rest fails
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not healthy(api_url):
            if not alive(pids["server"]):
                raise SystemExit(f"stack: the server stopped; see {logs / 'server.log'}")
            if time.monotonic() > deadline:
                raise SystemExit(f"stack: the server did not answer within {START_TIMEOUT} s; see {logs / 'server.log'}")
            time.sleep(1)
        print("Creating the work pool and deploying prefect.yaml ...", flush=True)
        setup_log = logs / "setup.log"
        run([*prefect, "work-pool", "create", POOL, "--type", "process", "--overwrite"], env, home, setup_log)
        run([*prefect, "concurrency-limit", "create", CHECKER_TAG, str(CHECKER_LIMIT)], env, home, setup_log)
        run([*prefect, "--no-prompt", "deploy", "--all"], env, home, setup_log)
        port = portal_port(args.portal_port)
        # E-mails the worker's runs send link to the partners' pages here (unless a public
        # address behind a TLS proxy is already set).
        env.setdefault("UTKAST_PORTAL_URL", f"http://127.0.0.1:{port}")
        pids["worker"] = start([*prefect, "worker", "start", "--pool", POOL, "--type", "process"],
                               env, logs / "worker.log", home)
        save()
        portal_url = start_portal(port, env, logs, home, pids)
        save()
    except BaseException:
        for pid in reversed(list(pids.values())):
            stop_pid(pid)
        state_path.unlink(missing_ok=True)
        raise
    print(f"\nPrefect UI:  {ui_url}")
    print(f"API:         {api_url}   (export PREFECT_API_URL={api_url} for `utkast watch` and the prefect CLI)")
    print(f"Portal:      {portal_url}   (partners' and reviewers' pages; links: utkast invite SLUG --base-url {portal_url})")
    print(f"Logs:        {logs}")
    print("Stop with:   python3 dev.py stack down")
    return 0


def start_portal(port: int, env: dict, logs: Path, home: Path, pids: dict) -> str:
    """`utkast serve` on 127.0.0.1 over the checkout's inbox and outputs; waits until it answers."""
    url = f"http://127.0.0.1:{port}"
    pids["portal"] = start([*utkast_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                           env, logs / "portal.log", home)
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(url):
        if not alive(pids["portal"]):
            raise SystemExit(f"stack: the portal stopped; see {logs / 'portal.log'}")
        if time.monotonic() > deadline:
            raise SystemExit(f"stack: the portal did not answer within {START_TIMEOUT} s; see {logs / 'portal.log'}")
        time.sleep(0.5)
    return url


def down(args) -> int:
    state_path = Path(args.state)
    state = read_state(state_path)
    if not state:
        print("The stack is not running (no state file).")
        return 0
    for name in ("portal", "worker", "server"):
        pid = state["pids"].get(name)
        if pid:
            stop_pid(pid)
            print(f"stopped {name} (pid {pid})")
    state_path.unlink(missing_ok=True)
    return 0


def status(args) -> int:
    state = read_state(Path(args.state))
    if not state:
        print("The stack is not running.")
        return 1
    running = {name: alive(pid) for name, pid in state["pids"].items()}
    for name, pid in state["pids"].items():
        print(f"{name:7} pid {pid:<8} {'running' if running[name] else 'stopped'}")
    print(f"Prefect UI: {state['ui_url']}  ({'answers' if healthy(state['api_url']) else 'does not answer'})")
    if state.get("portal_url"):
        answers = healthy(state["portal_url"])
        print(f"Portal:     {state['portal_url']}  ({'answers' if answers else 'does not answer'})")
    return 0 if all(running.values()) else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="stack", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["up", "down", "status"])
    p.add_argument("--port", type=int, default=4200)
    p.add_argument("--home", default=str(ROOT), help="the checkout flows run from (UTKAST_HOME)")
    p.add_argument("--state", default=str(ROOT / ".local" / "stack.json"))
    p.add_argument("--prefect-home", default=str(ROOT / ".local" / "prefect"))
    p.add_argument("--portal-port", type=int, default=None,
                   help="port of `utkast serve` (default: 8080, or a free one when it is taken)")
    args = p.parse_args(argv)
    return {"up": up, "down": down, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
