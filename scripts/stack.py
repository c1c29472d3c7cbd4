#!/usr/bin/env python3
"""The coordinator's Prefect stack on this machine: database, server + UI, deployments, workers,
and the partners' and reviewers' pages (`utkast serve`).

    python3 dev.py stack up [--postgres] [--workers N]   # start it and print the addresses
    python3 dev.py stack status   # every process of the stack: running or not, where
    python3 dev.py stack down     # stop exactly the processes `up` started

`up` starts `prefect server start` on 127.0.0.1 (telemetry and analytics off) on SQLite in
.local/prefect, or with --postgres on a PostgreSQL cluster of its own in .local/postgres
(Debian's `postgresql` package; run as the unprivileged user `postgres` when started as
root; Unix socket only, no TCP port; a random password in .local/postgres/password). It waits
until the server answers, creates the process work pool `utkast` and the task concurrency
limit of the language checker, deploys everything in prefect.yaml (`prefect --no-prompt deploy
--all`), creates the recovery automations (flows/recovery.py), starts N process workers on the
pool, the warm process that `utkast build` and `utkast intake` from a terminal run in
(flows/warm.py), and `utkast serve` on 127.0.0.1 (port 8080, or a free one when 8080 is taken;
`--portal-port`) over the checkout's inbox and outputs, so uploads start the intake. The API
requires a random auth string (PREFECT_SERVER_API_AUTH_STRING), kept in .local/prefect.env
together with PREFECT_API_URL (`. .local/prefect.env` for the prefect CLI and `utkast`); it is
never printed. PIDs go to .local/stack.json, logs to .local/logs/. Only the Python standard
library is used here; `prefect` comes from .venv (or PATH).

Options (for tests and a second stack next to the first): --port, --home (the checkout the
workers run flows from: UTKAST_HOME), --state (the JSON file with the PIDs; the secrets and logs
go next to it), --prefect-home, --postgres-dir, --portal-port.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the checkout's own (standard-library only) helpers
    sys.path.insert(0, str(ROOT))
from flows.prefect_api import START_SECONDS, probe_processing  # noqa: E402
from flows.prefect_api import read_env_file as parse_env_file  # noqa: E402
from flows.recovery import HEARTBEAT_SECONDS  # noqa: E402  (a run silent for two periods is crashed, then started again)

POOL = "utkast"
# Tag of the language-review task; at most this many checker calls run at once (all runs, all workers).
CHECKER_TAG, CHECKER_LIMIT = "language-checker", 2
TAG_SLOT_WAIT_SECONDS, DEPLOYMENT_SLOT_WAIT_SECONDS = 1, 5  # see server_env
STOP_GRACE = 20.0  # seconds a process of the stack gets to end on its own before it is killed
WORKER_LIMIT = 2  # flow runs one worker runs at once (each may start pandoc on every core)
PG_USER, PG_DATABASE, PG_PORT = "utkast", "prefect", 5432  # PG_PORT only names the socket file


def prefect_command() -> list[str]:
    for candidate in (ROOT / ".venv" / "bin" / "prefect", Path(sys.executable).parent / "prefect"):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("prefect")
    if not found:
        sys.exit("stack: the `prefect` command was not found; run `python3 dev.py test` (or build) once to set up .venv")
    return [found]


def stack_env(port: int, prefect_home: Path, home: Path, auth: str | None = None,
              state: Path | None = None) -> dict[str, str]:
    """The environment of the stack's Prefect clients: workers (and the flow runs they start),
    the CLI calls of `up`. The server gets its own additions (see :func:`server_env`)."""
    env = dict(os.environ)
    for name in [n for n in env if n.startswith("PREFECT_API_DATABASE") or n.startswith("PREFECT_SERVER_DATABASE")]:
        env.pop(name)  # the database is the server's business only
    env.update({
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "UTKAST_HOME": str(home),
        "PYTHONUNBUFFERED": "1",  # logs are written as they happen (a worker's log says which runs it took)
    })
    if state is not None:
        # Where this stack's state is (the portal's address: flows/prefect_api.py), also when
        # it is not the checkout's .local/stack.json (--state).
        env["UTKAST_STACK_STATE"] = str(Path(state).resolve())
    env.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_SECONDS))
    env.pop("PREFECT_API_KEY", None)  # never send a Prefect Cloud key to the local server
    env.pop("PREFECT_PROFILE", None)
    env.pop("PREFECT_SERVER_API_AUTH_STRING", None)
    if auth:
        env["PREFECT_API_AUTH_STRING"] = auth
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


def server_env(env: dict[str, str], auth: str, database_url: str | None) -> dict[str, str]:
    """The server's environment: the clients' plus the auth string it checks and its database."""
    env = dict(env, PREFECT_SERVER_API_AUTH_STRING=auth)
    # How long a run or task that found its concurrency limit full waits before asking again
    # (Prefect's defaults: 10 s for tag limits, 30 s for deployments). The language checker's
    # limit of 2 sees one short task per report: at 10 s a burst of 50 reports took minutes.
    env.setdefault("PREFECT_SERVER_TASKS_TAG_CONCURRENCY_SLOT_WAIT_SECONDS", str(TAG_SLOT_WAIT_SECONDS))
    env.setdefault("PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", str(DEPLOYMENT_SLOT_WAIT_SECONDS))
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


# --- processes -------------------------------------------------------------------------------


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot); None when it does not run."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text(encoding="ascii", errors="replace")
    except (OSError, ValueError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def alive(pid: int, started: str | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, given ``started``, is the same process that
    was started then (not a reused PID)."""
    if not Path("/proc/self/stat").exists():  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    now = _started(pid)
    return now is not None and (started is None or now == started)


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class Process:
    """One long-running process of the stack."""

    name: str
    command: list[str]
    env: dict[str, str]
    user: str | None = None  # run as this user (when we are root)
    stop_signal: int = signal.SIGTERM
    extra: dict = field(default_factory=dict)


def start(command: list[str], env: dict, log: Path, cwd: Path, user: str | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    interruptible()
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, user=user,
                                group=_group_of(user), extra_groups=[] if user else None)
    return proc.pid


def interruptible() -> None:
    """Let the processes this one starts take SIGINT. Started with ``nohup`` or ``&`` in a
    script, a process ignores SIGINT, and so does everything it starts: a Prefect worker then
    cannot stop on `down` (it turns SIGTERM into SIGINT to itself) and is killed after
    STOP_GRACE, with the run it was doing. A handler here is the default again in a child."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _group_of(user: str | None) -> int | None:
    return pwd.getpwnam(user).pw_gid if user else None


def run(command: list[str], env: dict, cwd: Path, log: Path, user: str | None = None, what: str = "") -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, user=user, group=_group_of(user),
                              extra_groups=[] if user else None)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"stack: `{what or ' '.join(command[-4:])}` failed (exit {done.returncode}):\n{tail}")


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stop_pid(pid: int, started: str | None = None, first: int = signal.SIGTERM, grace: float = STOP_GRACE) -> bool:
    """Stop a process `up` started, with the children it started (its own process group):
    ``first`` (SIGTERM; SIGINT for PostgreSQL's fast shutdown), then SIGKILL after ``grace``.
    True when it had to be killed."""
    if not alive(pid, started):
        return False
    for sig, wait in ((first, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)  # started with start_new_session: the group is ours
        except ProcessLookupError:
            return sig == signal.SIGKILL
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not alive(pid, started):
                return sig == signal.SIGKILL
            time.sleep(0.2)
    return True


# --- secrets ---------------------------------------------------------------------------------


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (mode 600), never through a wider mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def read_env_file(path: Path) -> dict[str, str]:
    """The ``export KEY=VALUE`` lines of ``path`` ({} when it cannot be read)."""
    try:
        return parse_env_file(path.read_text(encoding="utf-8"))
    except OSError:
        return {}


def api_auth(env_file: Path) -> str:
    """The API auth string of this stack: kept in ``env_file`` (made once, random)."""
    return read_env_file(env_file).get("PREFECT_API_AUTH_STRING") or secrets.token_urlsafe(32)


def write_client_env(env_file: Path, api_url: str, auth: str) -> None:
    write_private(env_file, "# The Prefect API of utkast's stack: `. .local/prefect.env`, then prefect, utkast watch, ...\n"
                            "# Secret: do not copy into git, logs or chat.\n"
                            f"export PREFECT_API_URL={api_url}\nexport PREFECT_API_AUTH_STRING={auth}\n")


# --- PostgreSQL ------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL programs (initdb, postgres): UTKAST_POSTGRES_BIN, else
    the newest /usr/lib/postgresql/<version>/bin, else `pg_config --bindir`."""
    if os.environ.get("UTKAST_POSTGRES_BIN"):
        return Path(os.environ["UTKAST_POSTGRES_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    sys.exit("stack: PostgreSQL was not found; install Debian's package (apt-get install postgresql) "
             "or set UTKAST_POSTGRES_BIN to the folder with initdb and postgres")


def postgres_user() -> str | None:
    """Who runs PostgreSQL: ourselves, or when we are root (initdb and postgres refuse root)
    UTKAST_POSTGRES_USER, else the `postgres` user of Debian's package, else `nobody`."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("UTKAST_POSTGRES_USER"), "postgres", "nobody"):
        if not name:
            continue
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    sys.exit("stack: no unprivileged user to run PostgreSQL as; set UTKAST_POSTGRES_USER")


def cluster_home(pgdir: Path, user: str | None, reachable: Callable[[Path], bool]) -> Path:
    """Where the cluster's data and socket folders go: ``pgdir`` itself when PostgreSQL runs as
    ourselves or its user may pass through to ``pgdir``. A checkout in a folder only its owner
    may enter (one made by ``mktemp -d``, a home folder of mode 700) is out of that user's reach:
    then a folder of the cluster's own under that user's home (Debian: /var/lib/postgresql), or
    else /var/tmp, named after ``pgdir``, so each checkout keeps its own cluster."""
    if not user or reachable(pgdir):
        return pgdir
    digest = hashlib.sha256(str(pgdir).encode()).hexdigest()[:12]
    for parent in (Path(pwd.getpwnam(user).pw_dir), Path("/var/tmp")):
        if parent.is_dir() and reachable(parent):
            return parent / f"utkast-{digest}"
    sys.exit(f"stack: the user {user!r} that runs PostgreSQL cannot reach {pgdir}; let others pass "
             "through its parent folders (chmod o+x) or choose --postgres-dir elsewhere")


def prepare_postgres(pgdir: Path, bindir: Path, user: str | None, log: Path) -> tuple[Process, str]:
    """Make the cluster the first time (initdb with a random password; in ``pgdir``, or where
    :func:`cluster_home` says); return the postgres process to start and the server's connection
    URL (never printed). The password stays in ``pgdir``."""
    pgdir.mkdir(parents=True, exist_ok=True)
    os.chmod(pgdir, 0o711)  # the database user may pass through, not list or read
    password_file = pgdir / "password"
    home = pgdir
    if user:
        uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid

        def reachable(path: Path) -> bool:
            return subprocess.run(["test", "-x", str(path)], user=user, group=gid, extra_groups=[]).returncode == 0

        home = cluster_home(pgdir, user, reachable)
        if home != pgdir:
            print(f"  ({user!r} cannot enter {pgdir}: the cluster's data and socket go to {home})", flush=True)
            home.mkdir(mode=0o700, exist_ok=True)
            os.chown(home, uid, gid)
    data, sock = home / "data", home / "run"
    new = not (data / "PG_VERSION").exists()
    if new:
        password = secrets.token_urlsafe(32)
        for d in (data, sock):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
            if user:
                os.chown(d, uid, gid)
        pwfile = data.parent / ".initdb-password"
        write_private(pwfile, password + "\n")
        if user:
            os.chown(pwfile, uid, gid)
        try:
            run([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}", "-E", "UTF8",
                 "--locale=C", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256"],
                os.environ.copy(), home, log, user=user, what="initdb")
        finally:
            pwfile.unlink(missing_ok=True)
        write_private(password_file, password + "\n")
    else:
        try:
            password = password_file.read_text(encoding="utf-8").strip()
        except OSError:
            sys.exit(f"stack: {data} exists but its password file {password_file} is missing")
    pg_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    command = [str(bindir / "postgres"), "-D", str(data), "-c", "listen_addresses=", "-c",
               f"unix_socket_directories={sock}", "-c", f"port={PG_PORT}", "-c", "max_connections=100",
               "-c", "log_connections=off"]
    url = f"postgresql+asyncpg://{PG_USER}:{password}@/{PG_DATABASE}?host={sock}&port={PG_PORT}"
    return Process("postgres", command, pg_env, user=user, stop_signal=signal.SIGINT,
                   extra={"new": new, "socket": str(sock), "password": password, "home": home}), url


def wait_until(ready: Callable[[], bool], pid: int, what: str, log: Path, *, every: float = 0.5,
               done: str = "answer") -> None:
    """Wait until ``ready()`` while the stack's process ``pid`` (``what``, writing ``log``) runs,
    for at most :data:`START_SECONDS`; a process that stops or never gets ready ends `up`."""
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        if not alive(pid):
            raise SystemExit(f"stack: {what} stopped; see {log}")
        if time.monotonic() > deadline:
            raise SystemExit(f"stack: {what} did not {done} within {START_SECONDS} s; see {log}")
        time.sleep(every)


def wait_for_postgres(bindir: Path, pid: int, sock: str, log: Path) -> None:
    wait_until(lambda: subprocess.run([str(bindir / "pg_isready"), "-q", "-h", sock, "-p",
                                       str(PG_PORT)]).returncode == 0, pid, "PostgreSQL", log)


def create_database(bindir: Path, sock: str, password: str, log: Path, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = password  # in this child's environment only
    run([str(bindir / "createdb"), "-h", sock, "-p", str(PG_PORT), "-U", PG_USER, PG_DATABASE], env, cwd, log,
        what="createdb")


# --- up, down, status ------------------------------------------------------------------------


def workers(args, env: dict) -> list[Process]:
    """The N process workers on the pool."""
    prefect = prefect_command()
    processes = [Process(f"worker-{i}", [*prefect, "worker", "start", "--pool", POOL, "--type", "process",
                                         "--name", f"utkast-worker-{i}", "--limit", str(args.worker_limit)], env)
                 for i in range(1, args.workers + 1)]
    return processes


def up(args) -> int:
    state_path, home = Path(args.state), Path(args.home).resolve()
    local = state_path.parent
    prefect_home = Path(args.prefect_home).resolve()
    state = read_state(state_path)
    if state and any(alive(pid, state.get("started", {}).get(name)) for name, pid in state["pids"].items()):
        print(f"The stack is already running: Prefect UI at {state['ui_url']}")
        return 0
    if args.workers < 1:
        sys.exit("stack: --workers must be at least 1")
    api_url, ui_url = f"http://127.0.0.1:{args.port}/api", f"http://127.0.0.1:{args.port}"
    client_env_file = local / "prefect.env"
    auth = api_auth(client_env_file)
    env = stack_env(args.port, prefect_home, home, auth, state_path)
    logs = local / "logs"
    prefect = prefect_command()
    pids: dict[str, int] = {}
    started: dict[str, str | None] = {}
    database = "postgresql" if args.postgres else "sqlite"
    portal_url = None
    # The warm process's socket (flows/warm.py), in a folder only this user may enter.
    warm_socket = str(Path(tempfile.mkdtemp(prefix="utkast-warm-")) / "warm.sock")

    def save() -> None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        write_private(state_path, json.dumps({
            "pids": pids, "started": started, "api_url": api_url, "ui_url": ui_url, "database": database,
            "portal_url": portal_url, "prefect_home": str(prefect_home), "home": str(home), "logs": str(logs),
            "env_file": str(client_env_file), "warm_socket": warm_socket,
            "stop_signals": {name: int(sig) for name, sig in stop_signals.items()}}, indent=2))

    def launch(process: Process, cwd: Path) -> int:
        pid = start(process.command, process.env, logs / f"{process.name}.log", cwd, process.user)
        pids[process.name], started[process.name] = pid, _started(pid)
        stop_signals[process.name] = process.stop_signal
        save()  # so `down` can stop it even if the rest fails
        return pid

    stop_signals: dict[str, int] = {}
    if healthy(api_url):
        sys.exit(f"stack: something already answers at {api_url}; stop it or choose another --port")
    write_client_env(client_env_file, api_url, auth)
    try:
        database_url = None
        if args.postgres:
            bindir, user = postgres_bin(), postgres_user()
            pgdir = Path(args.postgres_dir).resolve()
            print(f"Starting PostgreSQL in {pgdir} (as {user or 'this user'}, Unix socket only) ...", flush=True)
            postgres, database_url = prepare_postgres(pgdir, bindir, user, logs / "postgres-setup.log")
            pid = launch(postgres, postgres.extra["home"])
            wait_for_postgres(bindir, pid, postgres.extra["socket"], logs / "postgres.log")
            if postgres.extra["new"]:
                create_database(bindir, postgres.extra["socket"], postgres.extra["password"],
                                logs / "postgres-setup.log", pgdir)
        print(f"Starting the Prefect server on {ui_url} ({'PostgreSQL' if args.postgres else 'SQLite'}, "
              f"PREFECT_HOME={prefect_home}) ...", flush=True)
        launch(Process("server", [*prefect, "server", "start", "--host", "127.0.0.1", "--port", str(args.port),
                                  "--analytics-off"], server_env(env, auth, database_url)), home)
        wait_until(lambda: healthy(api_url), pids["server"], "the server", logs / "server.log", every=1)
        print("Creating the work pool, deploying prefect.yaml and the recovery automations ...", flush=True)
        setup_log = logs / "setup.log"
        run([*prefect, "work-pool", "create", POOL, "--type", "process", "--overwrite"], env, home, setup_log)
        run([*prefect, "concurrency-limit", "create", CHECKER_TAG, str(CHECKER_LIMIT)], env, home, setup_log)
        run([*prefect, "--no-prompt", "deploy", "--all"], env, home, setup_log)
        python = Path(prefect[0]).with_name("python")
        run([str(python if python.exists() else sys.executable), "-m", "flows.recovery"], env, home, setup_log,
            what="python -m flows.recovery")
        port = portal_port(args.portal_port)
        # Links in e-mail, from the workers' runs and from `utkast build` in a terminal alike,
        # point here unless [portal] url or UTKAST_PORTAL_URL names a public address: every
        # sender reads the state file (tasks/portal/links.py:portal_base_url).
        portal_url = f"http://127.0.0.1:{port}"
        save()
        # `utkast build` and `utkast intake` from a terminal run in a fork of this process, with
        # Prefect and the flows loaded already (flows/warm.py).
        launch(Process("warm", [str(python if python.exists() else sys.executable), "-m", "flows.warm",
                                "--socket", warm_socket], env), home)
        for process in workers(args, env):
            launch(process, home)
        wait_for_workers(api_url, auth, pids, logs)
        launch(Process("portal", [*utkast_command(), "serve", "--host", "127.0.0.1", "--port", str(port)], env),
               home)
        wait_for_portal(portal_url, pids["portal"], logs / "portal.log")
        wait_for_warm(Path(warm_socket), pids["warm"], logs / "warm.log")
    except BaseException:
        for name in reversed(list(pids)):
            stop_pid(pids[name], started.get(name), stop_signals.get(name, signal.SIGTERM))
        remove_warm_folder(warm_socket)
        state_path.unlink(missing_ok=True)
        raise
    print(f"\nPrefect UI:  {ui_url}   (database: {database}; {args.workers} worker(s) on pool {POOL!r})")
    print(f"API:         {api_url}   (`. {client_env_file}` sets PREFECT_API_URL and the API auth string "
          "for the prefect CLI and utkast)")
    print(f"Portal:      {portal_url}   (partners' and reviewers' pages; personal links: utkast invite SLUG)")
    print(f"Logs:        {logs}")
    print("Stop with:   python3 dev.py stack down")
    return 0


def wait_for_workers(api_url: str, auth: str, pids: dict[str, int], logs: Path) -> None:
    """Wait until the deployments that read uploads have a worker polling their pool (so the
    portal, started next, finds uploads read from its first look)."""
    deadline = time.monotonic() + START_SECONDS
    while not (found := probe_processing(api_url, auth)).ok:
        stopped = [name for name, pid in pids.items() if name.startswith("worker") and not alive(pid)]
        if stopped:
            raise SystemExit(f"stack: {stopped[0]} stopped; see {logs / (stopped[0] + '.log')}")
        if time.monotonic() > deadline:
            raise SystemExit(f"stack: {found.line}")
        time.sleep(1)


def wait_for_portal(url: str, pid: int, log: Path) -> None:
    """Wait until `utkast serve` answers at ``url``."""
    wait_until(lambda: healthy(url), pid, "the portal", log)


def wait_for_warm(path: Path, pid: int, log: Path) -> None:
    """Wait until the warm process listens (it loads Prefect and the flows first)."""
    wait_until(path.exists, pid, "the warm process", log, every=0.2, done="start")


def remove_warm_folder(socket_path: str | None) -> None:
    """The warm process's folder, when it left it behind (it removes its socket when stopped)."""
    if socket_path and Path(socket_path).parent.name.startswith("utkast-warm-"):
        shutil.rmtree(Path(socket_path).parent, ignore_errors=True)


def down(args) -> int:
    state_path = Path(args.state)
    state = read_state(state_path)
    if not state:
        print("The stack is not running (no state file).")
        return 0
    signals = state.get("stop_signals", {})
    for name, pid in reversed(list(state["pids"].items())):  # workers first, the database last
        first = signals.get(name, signal.SIGTERM)
        if stop_pid(pid, state.get("started", {}).get(name), first):
            print(f"stopped {name} (pid {pid}): it did not end within {STOP_GRACE:.0f} s of {signal.Signals(first).name}, "
                  "so it was killed")
        else:
            print(f"stopped {name} (pid {pid})")
    remove_warm_folder(state.get("warm_socket"))
    state_path.unlink(missing_ok=True)
    return 0


def status(args) -> int:
    state = read_state(Path(args.state))
    if not state:
        print("The stack is not running.")
        return 1
    running = {name: alive(pid, state.get("started", {}).get(name)) for name, pid in state["pids"].items()}
    for name, pid in state["pids"].items():
        print(f"{name:10} pid {pid:<8} {'running' if running[name] else 'stopped'}")
    print(f"Prefect UI: {state['ui_url']}  ({'answers' if healthy(state['api_url']) else 'does not answer'}; "
          f"database: {state.get('database', 'sqlite')})")
    if state.get("portal_url"):
        answers = healthy(state["portal_url"])
        print(f"Portal:     {state['portal_url']}  ({'answers' if answers else 'does not answer'})")
    auth = read_env_file(Path(state.get("env_file") or Path(args.state).parent / "prefect.env"))
    processing = probe_processing(state["api_url"], auth.get("PREFECT_API_AUTH_STRING"))
    print(f"Uploads:    {'' if processing.ok else 'NOT READ: '}{processing.line}")
    return 0 if all(running.values()) and processing.ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="stack", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["up", "down", "status"])
    p.add_argument("--port", type=int, default=4200)
    p.add_argument("--postgres", action="store_true",
                   help="the server's database in a PostgreSQL cluster of its own (default: SQLite)")
    p.add_argument("--workers", type=int, default=1, help="process workers on the pool (default 1)")
    p.add_argument("--worker-limit", type=int, default=WORKER_LIMIT, help="flow runs per worker at once")
    p.add_argument("--home", default=str(ROOT), help="the checkout flows run from (UTKAST_HOME)")
    p.add_argument("--state", default=str(ROOT / ".local" / "stack.json"))
    p.add_argument("--prefect-home", default=str(ROOT / ".local" / "prefect"))
    p.add_argument("--postgres-dir", default=str(ROOT / ".local" / "postgres"))
    p.add_argument("--portal-port", type=int, default=None,
                   help="port of `utkast serve` (default: 8080, or a free one when it is taken)")
    args = p.parse_args(argv)
    return {"up": up, "down": down, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
