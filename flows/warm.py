"""The stack's warm process: ``utkast build`` and ``utkast intake`` run in a fork of a process
that has Prefect and the flows loaded already.

Starting Python and importing Prefect and the flows costs 2-3 s of CPU on every command, more
than a build after one changed report does (measured on two cores; docs/performance.md). The
stack (scripts/stack.py) starts this process once (``python -m flows.warm --socket PATH``). A
command that finds it in the running stack's state hands over its arguments, working folder,
environment and terminal (standard input, output and error, as file descriptors) on a Unix
socket. The process forks, and the fork runs :func:`flows.cli.main` as the command would have:
on the command's terminal, in its folder, with its environment. The command waits for the exit
code and passes Ctrl-C and SIGTERM on to the fork; a fork whose command is gone ends at once.

A command runs itself, as before, when there is no warm process, with ``-v``, or when the process
refuses (:func:`refusal`): its code changed since it loaded it (it then starts again on the new
code, for the next command), it is another checkout's, or the command's Prefect logging settings
are not those Prefect was loaded with. Prefect's other settings are read again from the
command's environment in the fork (flows/cli.py: ``_use_server``).

Only the user who started it can hand it a command: the socket is in a folder only that user may
enter, and the process checks the peer's user id. Each command it runs is one line of its log
(the stack's ``logs/warm.log``): which command, for which process, in which fork.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import socket
import struct
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from flows.handover import CHECKOUT, CTRL_C_EXIT, FDS, HEADER, WARM_COMMANDS, interrupted

REQUEST_SECONDS = 10.0  # how long a command may take to send its request
MAX_REQUEST = 16 * 1024 * 1024  # bytes: arguments, folder and environment

# What a build loads only once it runs. Loaded here first, the forks share it; otherwise every
# fork loaded it again (a command with nothing to build took 0.59 s instead of 0.48 s on
# 2026-12-08). A test runs a build after :func:`preload` and fails on any module it still loads.
PRELOAD = (
    "flows.cli",  # the command
    "anyio._backends._asyncio",  # anyio loads it by name as Prefect's event loop starts
    "fastapi.encoders",  # Prefect encodes a flow run's parameters with it
    "prefect.flow_engine", "prefect.task_engine", "prefect.utilities.visualization",  # a flow's, a task's first call
    "phonenumbers.phonenumbermatcher", "stdnum.luhn", "stdnum.se.personnummer", "stdnum.se.postnummer",  # personal data
    "encodings.idna", "encodings.cp437",  # a host name; a zip file's names
    "lt_py", "lingotweaker_data_sv", "pycrfsuite",  # the review: its engine, Swedish data and model
    "multiprocessing.popen_spawn_posix", "multiprocessing.synchronize", "multiprocessing.resource_tracker",
    "multiprocessing.shared_memory",  # and its worker processes
)

# --- the decisions -------------------------------------------------------------------------------


def runs_here(argv: list[str]) -> bool:
    """Whether the warm process runs this command line: a flow command without ``-v``, as the
    command's own parser reads it (a line the parser refuses runs itself, for argparse's message)."""
    from flows.cli import parser

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            args = parser().parse_args(argv)
    except SystemExit:
        return False
    return args.command in WARM_COMMANDS and not args.verbose


def logging_settings(env: dict[str, str]) -> dict[str, str]:
    """The settings Prefect reads only when it is imported (its logging), as a command would have
    them (flows/cli.py: ``_prefect_env`` without ``-v``)."""
    from flows.cli import QUIET_CONSOLE

    found = {k: v for k, v in env.items() if k.startswith("PREFECT_LOGGING_")}
    return {**QUIET_CONSOLE, **found}


def refusal(request: dict, loaded: dict, sources_then: dict, sources_now: dict) -> str | None:
    """Why the warm process does not run ``request`` (None: it does). ``loaded``: the logging
    settings Prefect was imported with; ``sources_then`` / ``sources_now``: :func:`source_stamp`
    when the process started and now."""
    if not runs_here(request.get("argv") or []):
        return "not a command line it runs (only `utkast build` and `utkast intake` without -v)"
    if request.get("checkout") != str(CHECKOUT):
        return f"it runs the code of {CHECKOUT}, not of {request.get('checkout')}"
    if sources_now != sources_then:
        return "its code has changed since it started"
    if logging_settings(request.get("env") or {}) != loaded:
        return "the command's Prefect logging settings are not the ones it loaded Prefect with"
    return None


def source_stamp(modules: dict | None = None) -> dict[str, tuple[int, int]]:
    """Size and modification time of every loaded module of this checkout, and of the folder of
    installed packages (a new lock installs into it): what must not change under a warm process."""
    modules = sys.modules if modules is None else modules
    paths = {getattr(m, "__file__", None) for m in list(modules.values())}
    mine = sorted(p for p in paths if p and p.startswith(str(CHECKOUT) + os.sep))
    packages = next((p for p in sys.path if p.endswith("site-packages")), None)
    stamp = {}
    for path in [*mine, *([packages] if packages else [])]:
        try:
            st = os.stat(path)
        except OSError:
            stamp[path] = (-1, -1)
        else:
            stamp[path] = (st.st_size, st.st_mtime_ns)
    return stamp


# --- the warm process's side ---------------------------------------------------------------------


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, HEADER.size, len(FDS))
    try:
        if len(header) != HEADER.size or len(fds) != len(FDS):
            raise ValueError("an incomplete request")
        size, = HEADER.unpack(header)
        if size > MAX_REQUEST:
            raise ValueError("a request too large")
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise ValueError("an incomplete request")
            data += chunk
        return json.loads(data.decode("utf-8")), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return uid == os.getuid()


def _reply(conn: socket.socket, message: dict) -> None:
    conn.sendall((json.dumps(message) + "\n").encode("utf-8"))


def _run_in_fork(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the fork: become the command (its terminal, folder, environment), run it, say the
    exit code, leave. Never returns."""
    code, done = 1, threading.Event()
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip(FDS, fds):
            os.dup2(fd, target)
            os.close(fd)
        (enc_in, err_in), (enc_out, err_out), (enc_err, err_err) = request["encodings"]
        tty = request["tty"]
        sys.stdin = open(0, encoding=enc_in, errors=err_in, closefd=False)
        sys.stdout = open(1, "w", encoding=enc_out, errors=err_out, closefd=False, buffering=1 if tty[1] else -1)
        sys.stderr = open(2, "w", encoding=enc_err, errors=err_err, closefd=False, buffering=1)
        os.chdir(request["cwd"])
        os.umask(request["umask"])  # the files it writes get the command's permissions
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # the command's TMPDIR, not this process's
        sys.argv = ["utkast", *request["argv"]]
        _reply(conn, {"pid": os.getpid()})
        threading.Thread(target=_end_without_command, args=(conn, done), name="utkast-command", daemon=True).start()
        code = _command(request["argv"])
        import atexit

        atexit._run_exitfuncs()  # Prefect's last logs and events, as at the end of a command
    except BaseException:  # noqa: BLE001 - whatever happens, the command gets an exit code
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        done.set()  # the command may leave once it has the exit code
        with contextlib.suppress(OSError):
            _reply(conn, {"exit": code})
        os._exit(code)


def _command(argv: list[str]) -> int:
    """:func:`flows.cli.main` as Python would end it for the ``utkast`` script."""
    from flows.cli import main

    try:
        return main(argv) or 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException as exc:  # noqa: BLE001 - as Python prints an uncaught exception
        if interrupted(exc):
            return CTRL_C_EXIT
        traceback.print_exc()
        return 1


def _end_without_command(conn: socket.socket, done: threading.Event) -> None:
    """End this fork when its command is gone (the command closed the socket, or was killed)
    before the fork has said its exit code."""
    with contextlib.suppress(OSError):
        while conn.recv(1024):
            pass
    if not done.is_set():
        os.kill(os.getpid(), signal.SIGTERM)


def _reap() -> None:
    """Collect the forks that ended; one line each: exit code and peak memory (the fork's and
    its own child processes', as ``utkast`` alone would have used)."""
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if not pid:
                return
            print(f"warm: fork {pid} ended: exit {os.waitstatus_to_exitcode(status)}, "
                  f"peak {usage.ru_maxrss / 1024:.1f} MB", flush=True)


# What its log says of a command (read by the benchmark and the tests).
_FORKED = re.compile(r"^warm: `utkast \w+` of process (\d+) runs in fork (\d+)$", re.M)
_ENDED = re.compile(r"^warm: fork (\d+) ended: exit (-?\d+), peak ([\d.]+) MB$", re.M)


def fork_of(log: str, pid: int) -> int | None:
    """The fork that ran the command of process ``pid``, from the warm process's log."""
    return next((int(m[2]) for m in _FORKED.finditer(log) if int(m[1]) == pid), None)


def fork_end(log: str, fork: int) -> tuple[int, float] | None:
    """A fork's exit code and peak memory (MB) once it ended, from the warm process's log."""
    return next(((int(m[2]), float(m[3])) for m in _ENDED.finditer(log) if int(m[1]) == fork), None)


def preload() -> None:
    """Load :data:`PRELOAD`, the Swedish telephone numbers' tables and pandoc's version."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    import phonenumbers

    from tasks.core.pandoc import pandoc_version

    phonenumbers.PhoneMetadata.metadata_for_region("SE")
    pandoc_version()  # kept by the function (a new lock that changes pandoc starts this process again)


def serve(path: Path) -> None:
    """Load Prefect and the flows, then run each command handed over on ``path`` in a fork."""
    from flows.cli import _prefect_env

    _prefect_env(False)
    import gc

    import flows.build  # noqa: F401 - what `utkast build` loads
    import flows.intake  # noqa: F401 - and `utkast intake`

    preload()
    loaded, sources = logging_settings(dict(os.environ)), source_stamp()
    gc.collect()
    gc.freeze()  # what is loaded now stays shared with the forks (copy-on-write)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    old = os.umask(0o077)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.umask(old)
    server.listen(16)
    server.settimeout(1.0)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"warm: ready on {path} (pid {os.getpid()})", flush=True)
    try:
        while True:
            _reap()
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(REQUEST_SECONDS)  # a client that connects and says nothing holds no one up
            try:
                outcome = _served(server, conn, loaded, sources)
            except Exception as exc:  # noqa: BLE001 - a malformed request: that command runs itself
                print(f"warm: a request could not be read: {type(exc).__name__}", flush=True)
                continue
            if outcome == "restart":
                break
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    # Its code changed: the same process (the stack's PID) starts again on the new code.
    os.execv(sys.executable, [sys.executable, "-m", "flows.warm", *sys.argv[1:]])


def _served(server: socket.socket, conn: socket.socket, loaded: dict, sources: dict) -> str:
    with conn:
        try:
            if not _same_user(conn):
                return "refused"
            request, fds = _receive(conn)
        except (OSError, ValueError):
            return "refused"
        try:
            now = source_stamp()
            reason = refusal(request, loaded, sources, now)
            if reason:
                print(f"warm: not running `utkast {' '.join(request.get('argv', [])[:1])}`: {reason}", flush=True)
                with contextlib.suppress(OSError):
                    _reply(conn, {"refused": reason})
                return "restart" if now != sources else "refused"
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                server.close()
                conn.settimeout(None)
                _run_in_fork(conn, request, fds)
            print(f"warm: `utkast {request['argv'][0]}` of process {request.get('pid', '?')} runs in fork {pid}",
                  flush=True)
            return "forked"
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.warm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="the Unix socket to listen on (its folder: this user's only)")
    serve(Path(parser.parse_args(argv).socket))
    return 0


if __name__ == "__main__":
    sys.exit(main())
