"""How the flows' tasks run: retries only around I/O, results kept per file (not by Prefect),
and the tag that limits the language checker.

- **Retries**: a task that reads or writes storage (or calls a remote checker) is retried
  when it fails with :class:`~tasks.core.errors.StorageError` or
  :class:`~tasks.core.errors.CheckerUnavailable`, never for anything else. A file pandoc cannot
  read is a rejection (a returned value), so it is never retried.
- **Results**: no task result is persisted by Prefect. Each file's conversion is kept in
  the outputs as soon as pandoc has finished it (``cache/converted/``, by content hash and
  converter: :func:`tasks.intake.normalise.keep_conversion`), and each review as soon as it
  is done (``cache/reviewed/``), so a retry, or a rerun of a run that failed or whose worker
  was killed, does again only what was not finished.
- **Language checker**: review tasks carry :data:`CHECKER_TAG`; a Prefect task-concurrency
  limit on that tag (``prefect concurrency-limit create language-checker 2``, made by
  ``scripts/stack.py``) bounds the calls to the checker across all runs and workers.
- **Garbage collection**: :func:`collect_rarely` at the start of the build and intake flows.
"""

from __future__ import annotations

import functools
import gc

from tasks.core.errors import CheckerUnavailable, StorageError

CHECKER_TAG = "language-checker"
IO_RETRIES = 2
IO_RETRY_DELAYS = [5, 30]
_RETRYABLE = (StorageError, CheckerUnavailable)


def retry_on_io(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry only infrastructure failures."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the failure could not be loaded: do not guess
        return False
    return isinstance(exc, _RETRYABLE)


IO_TASK = {"retries": IO_RETRIES, "retry_delay_seconds": IO_RETRY_DELAYS, "retry_condition_fn": retry_on_io}


# The youngest generation is collected after this many new objects instead of Python's 700.
GC_THRESHOLDS = (50_000, 20, 100)


@functools.cache  # once per process: a test process runs many flows
def collect_rarely() -> None:
    """Tune Python's cycle collector for a run. A build holds hundreds of thousands of small
    objects (the reports, the Word pieces, the draft's text record), and with the default
    thresholds the collector walks them again and again: about 1 s of a 7 s build after one
    change at N = 1,500, measured. Nearly all a build lets go of is freed by reference counting
    at once; the collector only finds cycles, and with these thresholds it still does. What is
    loaded when the run starts (modules, Prefect's own objects) is frozen out of its passes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
