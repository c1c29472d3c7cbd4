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
"""

from __future__ import annotations

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
