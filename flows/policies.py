"""How the flows' tasks run: retries only around I/O, conversion results persisted next to
the outputs and cached by content hash, and the tag that limits the language checker.

- **Retries**: a task that reads or writes storage (or calls a remote checker) is retried
  when it fails with :class:`~tasks.core.errors.StorageError` or
  :class:`~tasks.core.errors.CheckerUnavailable`, never for anything else. A file pandoc cannot
  read is a rejection (a returned value), so it is never retried.
- **Results and caching**: the conversion task's result is persisted under
  ``cache/results/`` in the outputs (the folder, or the bucket when outputs are on S3, with
  the same credentials as the outputs, through a small block over :mod:`tasks.storage`) and keyed by the sha256 of the files it converted
  plus the converter's fingerprint. A rerun of a flow that failed after converting finds
  those results and does not start pandoc again. ``PREFECT_DEFAULT_RESULT_STORAGE_BLOCK``,
  when set, takes precedence (e.g. an ``s3-bucket`` block of prefect-aws).
- **Language checker**: review tasks carry :data:`CHECKER_TAG`; a Prefect task-concurrency
  limit on that tag (``prefect concurrency-limit create language-checker 2``, made by
  ``scripts/stack.py``) bounds the calls to the checker across all runs and workers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from prefect.filesystems import WritableFileSystem
from pydantic import PrivateAttr

from flows.storage import open_storage
from tasks.core.errors import CheckerUnavailable, StorageError
from tasks.intake.normalise import converter_fingerprint
from tasks.storage.base import Storage
from tasks.storage.local import LocalStorage

CHECKER_TAG = "language-checker"
RESULTS_FOLDER = "cache/results"
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


class OutputsResultStorage(WritableFileSystem):
    """Prefect result storage inside the outputs (a folder or a bucket), under ``cache/results/``.

    It goes through :func:`flows.storage.open_storage`, so results sit with the outputs
    they belong to and use the outputs' credentials; deleting ``cache/`` only costs work.
    """

    _block_type_name = "utkast outputs results"
    url: str
    folder: str = RESULTS_FOLDER
    _store: Any = PrivateAttr(default=None)

    def _storage(self) -> Storage:
        if self._store is None:
            self._store = open_storage(self.url)
        return self._store

    # Prefect calls these with ``_sync=True`` (its marker for sync/async block methods); they are sync.
    def read_path(self, path: str, **_: Any) -> bytes:
        return self._storage().read(f"{self.folder}/{path}")

    def write_path(self, path: str, content: bytes, **_: Any) -> str:
        self._storage().write(f"{self.folder}/{path}", content, "application/octet-stream")
        return path


_saved_blocks: dict[str, OutputsResultStorage] = {}


def result_storage_for(out: Storage) -> Path | OutputsResultStorage | None:
    """Where conversion results go for these outputs: ``<outputs>/cache/results`` (Prefect's
    local file system) for a folder; for a bucket, an :class:`OutputsResultStorage` block
    saved on the server (Prefect wants task result storage saved) named after the URL.
    None when ``PREFECT_DEFAULT_RESULT_STORAGE_BLOCK`` chooses the storage instead."""
    from prefect.settings import get_current_settings

    if get_current_settings().results.default_storage_block:
        return None
    if isinstance(out, LocalStorage):
        return out.root / RESULTS_FOLDER
    if out.url not in _saved_blocks:
        block = OutputsResultStorage(url=out.url)
        block.save("outputs-" + hashlib.sha256(out.url.encode()).hexdigest()[:12], overwrite=True)
        _saved_blocks[out.url] = block
    return _saved_blocks[out.url]


def conversion_cache_key(context, parameters: dict) -> str:
    """Cache key of one conversion task: what the files are (keys and sha256) and how they
    are converted (pandoc, script and utkast versions, the limits)."""
    limits = parameters["config"].settings.limits
    payload = {
        "files": sorted([f.key, f.sha256, f.kind] for f in parameters["files"]),
        "converter": converter_fingerprint(),
        "limits": [limits.convert_timeout, limits.convert_memory_mb],
    }
    return "convert-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
