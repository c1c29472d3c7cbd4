"""The command's side of the stack's warm process (flows/warm.py): ``utkast build`` and
``utkast intake`` hand themselves over to it, when the running stack has one.

The command sends its arguments, working folder, environment and terminal (standard input,
output and error, as file descriptors) on the warm process's Unix socket, waits for the exit
code, and passes Ctrl-C, SIGTERM and SIGHUP on to the fork that runs it. It runs itself when
there is no warm process or the process refuses (:func:`flows.warm.refusal`). Standard library
only: this runs before anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
WARM_COMMANDS = ("build", "intake")  # the commands that import Prefect and run a flow
STATE_KEY = "warm_socket"  # where the stack's state names the socket
FDS = (0, 1, 2)
HEADER = struct.Struct("!I")  # the request's length, sent with the descriptors
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CTRL_C_EXIT = 130  # a command stopped with Ctrl-C, as a shell reports it


def interrupted(exc: BaseException | None) -> bool:
    """Whether ``exc`` is Ctrl-C, or an error raised while Ctrl-C was being handled: stopped by
    Ctrl-C as it creates a task run, Prefect can raise its own error instead ("Task run is not
    set"), with the KeyboardInterrupt as its context. Either way the user pressed Ctrl-C."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def wants_warm(argv: list[str]) -> bool:
    """Whether this command line is one for the warm process: a flow command, with no option
    before it (``-v``: Prefect's console is set up as Prefect is imported, so a verbose command
    sets it up itself). The warm process checks the rest with the command's own parser."""
    return bool(argv) and argv[0] in WARM_COMMANDS


def hand_over(argv: list[str], env: dict | None = None) -> int | None:
    """Run ``utkast ARGV`` in the running stack's warm process; its exit code, or None when this
    process should run the command itself (no warm process, or it refused)."""
    env = dict(os.environ if env is None else env)
    if not wants_warm(argv):
        return None
    from flows.prefect_api import running_stack

    path = (running_stack(env) or {}).get(STATE_KEY)
    if not isinstance(path, str):
        return None
    # Ctrl-C and SIGTERM go to the fork once it is there; one that comes before is passed on then.
    # (A signal this process ignores, as under nohup, stays ignored.)
    forward = _Forward()
    saved = {signum: signal.getsignal(signum) for signum in FORWARDED}
    for signum, handler in saved.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, forward)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(path)
            request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": env, "checkout": str(CHECKOUT),
                                  "pid": os.getpid(), "umask": _umask(),
                                  "encodings": [_encoding(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
                                  "tty": [os.isatty(fd) for fd in FDS]}).encode("utf-8")
            socket.send_fds(sock, [HEADER.pack(len(request))], list(FDS))
            sock.sendall(request)
            replies = sock.makefile("r", encoding="utf-8")
            first = json.loads(replies.readline() or "{}")
        except (OSError, ValueError):
            first = {}  # no warm process there (a stack stopped uncleanly), or one that broke off
        if "pid" not in first:
            for signum, handler in saved.items():
                signal.signal(signum, handler)
            for signum in forward.pending:  # Ctrl-C before anything ran: as if it came to this process
                signal.raise_signal(signum)
            return None
        forward.to(first["pid"])
        return _exit_code(replies)
    finally:
        sock.close()


class _Forward:
    """A signal handler that passes signals on to the fork, or keeps them until it is known."""

    def __init__(self):
        self.pid: int | None = None
        self.pending: list[int] = []

    def __call__(self, signum, frame) -> None:
        if self.pid is None:
            self.pending.append(signum)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def to(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            self(signum, None)


def _umask() -> int:
    """This process's umask (it can only be read by setting it)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _encoding(stream) -> list[str]:
    return [getattr(stream, "encoding", None) or "utf-8", getattr(stream, "errors", None) or "strict"]


def _exit_code(replies) -> int:
    """The fork's exit code, when it says it."""
    for line in replies:
        reply = json.loads(line)
        if "exit" in reply:
            return int(reply["exit"])
    print("utkast: the run in the stack's warm process ended without an exit code", file=sys.stderr)
    return 1
