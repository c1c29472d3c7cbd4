"""What a report goes through as soon as pandoc has converted it, in its conversion batch
(while pandoc goes on with the next files): the personal-data scan and what it contributes to
the draft's language page. Later steps find both done (:func:`tasks.personal.scan.scan_reports`
takes the scans as ``early``; :mod:`tasks.review.sprak` reads what was noted).

Both are Python work, about 8 ms a short report. Done in the batches' threads, they share the
run's interpreter lock: at N = 238 light reports pandoc was done after 2.4 s and the batches
after 4.6 s, waiting on that lock. From :data:`PROCESS_FROM` reports converted at once, the
work goes to worker processes, one per core (started once, while pandoc works: importing what
they need takes about 0.4 s), and the batches' threads only write what they found."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ProcessPoolExecutor

from tasks.core.config import Config
from tasks.core.parallel import process_pool, workers
from tasks.core.slots import slot_key
from tasks.intake.inbox import InboxFile
from tasks.intake.normalise import Converted, Outcome, Report, earlier_versions, make_report
from tasks.personal.rules import PersonalRules
from tasks.personal.scan import scan_report
from tasks.review.sprak import report_notes
from tasks.review.variants import TermList, load_terms
from tasks.storage.base import Storage, write_all

# From this many files to convert the early work runs in worker processes; below it, starting
# them costs more than it saves.
PROCESS_FROM = 100

Writes = list[tuple[str, bytes, str]]


def early_work(report: Report, ast_json: str, rules: PersonalRules, terms: TermList) -> tuple[dict, Writes]:
    """One freshly converted report: its personal-data scan's record (for ``early``) and the
    writes that keep its masked AST (when something was masked) and its notes for the page."""
    record, masked_key, ast, masked = scan_report(report, rules, ast_json)
    writes = [(masked_key, masked, "application/json")] if masked is not None else []
    return record, writes + report_notes(masked_key, ast, terms)


class AfterConversion:
    """The ``on_result`` of :func:`tasks.intake.normalise.convert_and_keep`: each freshly
    converted report goes through :func:`early_work` (its record into ``early``, by slot).
    Use it as a context manager: leaving it waits for the work still in the worker processes
    (raising what failed there) and stops them."""

    def __init__(self, out: Storage, files: list[InboxFile], config: Config, rules: PersonalRules,
                 early: dict[str, dict], converting: int = 0):
        self.out, self.config, self.rules, self.early = out, config, rules, early
        self.by_key, self.earlier = {f.key: f for f in files}, earlier_versions(files)
        self.terms = load_terms(config.templates)
        self.in_process = converting >= PROCESS_FROM and workers() > 1
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[tuple[str, Future]] = []
        self.lock = threading.Lock()  # the batches' threads call in side by side

    def __call__(self, key: str, outcome: Outcome) -> None:
        if not isinstance(outcome, Converted) or outcome.kept:
            return
        f = self.by_key[key]
        slot = slot_key(*f.slot)
        report = make_report(f, outcome, self.config, self.earlier.get(slot, []))
        if not self.in_process:
            self._keep(slot, *early_work(report, outcome.ast, self.rules, self.terms))
            return
        with self.lock:
            if self.pool is None:
                self.pool = process_pool(workers(), _worker_init, (self.rules, self.terms))
            self.pending.append((slot, self.pool.submit(_worker, report, outcome.ast)))
        self._collect(wait=False)

    def _keep(self, slot: str, record: dict, writes: Writes) -> None:
        write_all(self.out, writes)
        self.early[slot] = record

    def _collect(self, wait: bool) -> None:
        """Keep what the worker has found (all of it with ``wait``), in the order it was asked."""
        while True:
            with self.lock:
                if not self.pending or not (wait or self.pending[0][1].done()):
                    return
                slot, future = self.pending.pop(0)
            self._keep(slot, *future.result())

    def __enter__(self) -> AfterConversion:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._collect(wait=True)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)


_rules: PersonalRules | None = None
_terms: TermList | None = None


def _worker_init(rules: PersonalRules, terms: TermList) -> None:
    global _rules, _terms
    _rules, _terms = rules, terms


def _worker(report: Report, ast_json: str) -> tuple[dict, Writes]:
    return early_work(report, ast_json, _rules, _terms)
