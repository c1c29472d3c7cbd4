"""Progress messages for people: to the terminal (``utkast`` logger) and the Prefect run log.

Each line reaches a person once. In a run, :func:`progress` writes to the run log (the
Prefect UI, and the console of a worker or of ``utkast -v``); the ``utkast`` logger gets the
line too only where a terminal shows that logger alone (:func:`terminal_output`, what
``utkast`` without ``-v`` uses), or when there is no run to log to.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager

log = logging.getLogger("utkast")

#: The handler that shows the ``utkast`` logger on the terminal, while one does.
_terminal: logging.Handler | None = None


def progress(message: str, *args) -> None:
    sent = _to_run_log(message, *args)
    if _terminal is not None or not sent:
        log.info(message, *args)


def _to_run_log(message: str, *args) -> bool:
    """Log to the current flow or task run; False outside one."""
    try:
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger

        get_run_logger().info(message, *args)
    except (MissingContextError, RuntimeError, ImportError):
        return False
    return True


class _Terminal(logging.StreamHandler):
    """The ``utkast`` logger's lines as they are, on whatever ``sys.stderr`` is when they come."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler sets it; the current sys.stderr is used instead
        pass


@contextmanager
def terminal_output(verbose: bool):
    """While inside: what the terminal of a ``utkast`` command shows.

    Without ``verbose``: utkast's own lines (progress, retries, warnings), each once, and none of
    Prefect's (the caller keeps Prefect's console handler quiet). With ``verbose``: Prefect's
    console shows everything, utkast's lines included (as ``utkast - …`` or, in a run, with the
    run's name). The ``utkast`` logger is as it was afterwards (the tests call the CLI in-process).
    """
    global _terminal
    saved = (log.level, log.propagate, _terminal)
    handler = None
    log.setLevel(logging.INFO)
    if not verbose:
        handler = _Terminal()
        log.addHandler(handler)
        log.propagate = False  # Prefect's console (on the root logger) must not print them again
        _terminal = handler
    try:
        yield
    finally:
        if handler is not None:
            log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate, _terminal = saved[1], saved[2]
