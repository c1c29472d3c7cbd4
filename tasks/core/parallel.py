"""How much runs side by side on this machine, worker processes, and whether a process still runs."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor


def workers() -> int:
    """Processes or threads to run side by side: one per core, at most 8 (pandoc batches,
    the draft's formats, the personal-data scan, the flows' task runners)."""
    return max(1, min(os.cpu_count() or 1, 8))


def interleaved(items: list, parts: int) -> list[list]:
    """``items`` in at most ``parts`` batches, dealt round-robin: neighbours in the inbox tend
    to be alike (one partner, one format), so contiguous slices would finish at different
    times. No empty batch."""
    n = max(1, min(parts, len(items)))
    return [items[i::n] for i in range(n)] if items else []


def process_pool(count: int, initializer=None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """``count`` worker processes for Python work that would wait on the interpreter lock in
    threads. Started with spawn, not fork: the caller may be a Prefect flow with threads
    running. Each worker ends when the process that started it does: a run that is killed
    leaves no worker behind (an idle worker would otherwise wait on its queue for ever)."""
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))


PARENT_CHECK_SECONDS = 0.5


def _start_worker(parent: int, initializer, initargs: tuple) -> None:
    threading.Thread(target=_end_with_parent, args=(parent,), name="utkast-parent", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _end_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def process_running(pid) -> bool:
    """Whether a process with this PID runs on this machine (a PID of another user's counts)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
