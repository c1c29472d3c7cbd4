"""The draft's language page in a process of its own, beside the run (``python -m flows.beside``).

The page (:func:`tasks.review.sprak.write_sprak`) is Python work from start to end: it reads
what every report contributes and groups it across the reports. A flow run's tasks share one
interpreter lock, so in the run's own process the page slowed the merge and the render beside
it by about as much as it took itself (N = 1,500, one report changed: the merge alone 0.5 s,
beside the page 1.9 s). In a process of its own it runs on the other core. A small draft's page
(fewer than :data:`BESIDE_FROM` reports: 0.1-0.2 s at N = 238) is made in the run itself: there
the process's start cost more than the page (one changed report, N = 238, light reports: the
whole command 0.94 x as long in seven alternating pairs).

The process opens the outputs as the run does (:func:`flows.storage.open_storage`: a bucket's
credentials from the environment or the Prefect block), reads the run's configuration folder
again, writes ``drafts/<version>/sprak.json|html`` and prints what it wrote. It reads its
instructions as JSON on standard input. A storage problem comes back as a
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


# From this many reports, the page is made in a process of its own. Below it, the page is
# quicker than the process's start (about 1 s of CPU: Python and the review's modules), which
# takes that CPU from the merge and the render on a machine of two cores.
BESIDE_FROM = 400


def beside(reports: int, cores: int) -> bool:
    """Whether the language page of ``reports`` reports is made in a process of its own."""
    return cores >= 2 and reports >= BESIDE_FROM


def write_sprak_beside(out: Storage, config: Config, reports: list[Report], version: str) -> dict:
    """:func:`tasks.review.sprak.write_sprak`, in a process of its own when that pays (:func:`beside`)."""
    if not beside(len(reports), workers()):
        return write_sprak(out, config, reports, version)
    return write_sprak_in_own_process(out, config, reports, version)


def write_sprak_in_own_process(out: Storage, config: Config, reports: list[Report], version: str) -> dict:
    """:func:`tasks.review.sprak.write_sprak` in a process of its own."""
    spec = {"out": out.url, "templates": str(Path(config.templates).resolve()), "version": version,
            "reports": [r.to_json() for r in reports]}
    done = subprocess.run([sys.executable, "-m", "flows.beside"], input=json.dumps(spec), capture_output=True,
                          text=True, cwd=ROOT, timeout=3600)
    said = (done.stderr.strip().splitlines() or [f"it stopped with exit code {done.returncode}"])[-1]
    if done.returncode == STORAGE_FAILED:
        raise StorageError(said)
    if done.returncode != 0:
        raise UtkastError(f"the language page could not be written: {said}")
    return json.loads(done.stdout)


def main() -> int:
    spec = json.load(sys.stdin)
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
