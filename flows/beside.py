"""The draft's language page in a process of its own, beside the run (``python -m flows.beside``).

The page (:func:`tasks.review.sprak.write_sprak`) is Python work from start to end: it reads
what every report contributes and groups it across the reports. A flow run's tasks share one
interpreter lock, so in the run's own process the page slowed the merge and the render beside
it by about as much as it took itself (N = 1,500, one report changed: the merge alone 0.5 s,
beside the page 1.9 s). In a process of its own it runs on the other core.

The process opens the outputs as the run does (:func:`flows.storage.open_storage`: a bucket's
credentials from the environment or the Prefect block), reads the run's configuration folder
again, writes ``drafts/<version>/sprak.json|html`` and prints what it wrote. It reads its
instructions as JSON on standard input, after its imports: a build starts it as the run begins
(:class:`Beside`), so that starting Python and importing (about 0.4 s) are done while the intake
works, not after one report changed, when the page was the last step the draft waited for.
Nothing on standard input (the run published nothing, or ended) ends it. A storage problem comes back as a
:class:`~tasks.core.errors.StorageError` (so the task is retried like any storage task), any other
as an :class:`~tasks.core.errors.UtkastError`, with the process's last line of error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flows.storage import open_storage
from tasks.core.config import Config, load_config
from tasks.core.errors import StorageError, UtkastError
from tasks.core.parallel import workers
from tasks.intake.normalise import Report
from tasks.review.sprak import write_sprak
from tasks.storage.base import Storage

ROOT = Path(__file__).resolve().parents[1]
STORAGE_FAILED = 3  # the exit code of a storage problem


def start_beside() -> subprocess.Popen:
    """The page's process, waiting for its instructions on standard input."""
    return subprocess.Popen([sys.executable, "-m", "flows.beside"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def write_sprak_beside(out: Storage, config: Config, reports: list[Report], version: str,
                       started: Beside | None = None) -> dict:
    """:func:`tasks.review.sprak.write_sprak` in a process of its own (in this one on a machine
    with one core, where a process of its own would only add its start): the one ``started``
    holds when it has one, else a new one (a retry's)."""
    if workers() < 2:
        return write_sprak(out, config, reports, version)
    spec = {"out": out.url, "templates": str(Path(config.templates).resolve()), "version": version,
            "reports": [r.to_json() for r in reports]}
    proc = (started.take() if started else None) or start_beside()
    try:
        stdout, stderr = proc.communicate(json.dumps(spec), timeout=3600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = (stderr.strip().splitlines() or [f"it stopped with exit code {proc.returncode}"])[-1]
    if proc.returncode == STORAGE_FAILED:
        raise StorageError(said)
    if proc.returncode != 0:
        raise UtkastError(f"the language page could not be written: {said}")
    return json.loads(stdout)


class Beside:
    """The page's process, started now for a page due later in the run (none on one core).
    :func:`write_sprak_beside` takes it; leaving the ``with`` block ends it when nothing did."""

    def __init__(self):
        self.proc = start_beside() if workers() >= 2 else None

    def take(self) -> subprocess.Popen | None:
        proc, self.proc = self.proc, None  # one page a process
        return proc

    def __enter__(self) -> Beside:
        return self

    def __exit__(self, *exc) -> None:
        proc = self.take()
        if proc is None:
            return
        try:
            proc.communicate("", timeout=60)  # nothing to do: it ends
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    instructions = sys.stdin.read()
    if not instructions.strip():
        return 0
    spec = json.loads(instructions)
    reports = [Report(**r) for r in spec["reports"]]
    written = write_sprak(open_storage(spec["out"]), load_config(spec["templates"]), reports, spec["version"])
    print(json.dumps(written))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StorageError as exc:
        print(" ".join(str(exc).split()), file=sys.stderr)
        sys.exit(STORAGE_FAILED)
    except Exception as exc:  # one line for the run's error, never a traceback
        print(f"{type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(1)
