"""The language review in the flows: one Prefect task per report whose review is missing or
stale, side by side; a checker that cannot be loaded or reached marks those reviews
pending ("granskning väntar") instead of failing the run, and the next run reviews them."""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect import task
from prefect.cache_policies import NONE

from flows.policies import CHECKER_TAG, IO_TASK
from flows.progress import log, progress
from tasks.core.config import Config
from tasks.core.errors import CheckerUnavailable, StorageError
from tasks.intake.normalise import Report
from tasks.review.checker import Checker, open_checker
from tasks.review.run import (
    ReportChanged,
    pending_label,
    pending_summary,
    review_key,
    review_keys,
    review_report,
)
from tasks.review.settings import ReviewSettings, load_review_settings
from tasks.review.sprak import write_sprak
from tasks.storage.base import Storage


# The draft's language page (drafts/<version>/sprak.json|html): terms written in more than one way.
write_sprak_task = task(write_sprak, name="write_sprak", cache_policy=NONE, **IO_TASK)


@task(name="review_report", cache_policy=NONE, tags=[CHECKER_TAG], **IO_TASK)
def review_report_task(inbox: Storage, out: Storage, report: Report, checker: Checker,
                       settings: ReviewSettings, config: Config) -> dict:
    """Review one report; an unavailable checker or a file that changed leaves it pending.

    The tag lets a Prefect concurrency limit bound checker calls across runs and workers;
    storage failures are retried like every I/O task. The checker retries its own network
    calls, so an unreachable server is not waited for again here."""
    try:
        return review_report(inbox, out, report, checker, settings, config)
    except (CheckerUnavailable, ReportChanged) as exc:
        progress("Språkgranskning väntar för %s/%s: %s", report.partner, report.piece, exc)
        return pending_summary(str(exc))
    except StorageError:
        raise  # infrastructure: retried, then fails the run
    except Exception as exc:  # one odd document must not stop the draft; tried again next run
        log.exception("language review of %s/%s failed", report.partner, report.piece)
        return pending_summary(f"the review failed: {exc}")


@dataclass
class ReviewOutcome:
    summaries: dict[str, dict] = field(default_factory=dict)  # slot key -> summary (or pending)
    pending: dict[str, str] = field(default_factory=dict)  # slot key -> label for the draft
    reviewed: int = 0


def review_steps(inbox: Storage, out: Storage, config: Config, reports: dict[str, Report], state: dict,
                 enabled: bool = True) -> ReviewOutcome:
    """Review the reports whose review is missing or stale; reuse the rest from ``state``."""
    settings = load_review_settings(config.templates, config.registry)
    checker = open_checker(settings.tuning)
    saved = state.setdefault("review", {})
    outcome = ReviewOutcome()
    todo = []
    for slot, report in sorted(reports.items()):
        key = review_key(report, checker, settings)
        prior = saved.get(slot)
        if prior and prior.get("key") == key:
            outcome.summaries[slot] = prior["summary"]
        elif enabled:
            todo.append((slot, report, key))
        elif prior and prior.get("sha256") != report.sha256:
            _forget(out, saved, slot)  # about an older version of the text
    for slot in [s for s in saved if s not in reports]:  # withdrawn reports
        _forget(out, saved, slot)
    if todo:
        progress("Språkgranskar %d delrapporter (%s)", len(todo), checker.description)
        try:
            checker.prepare(sum(r.words for _, r, _ in todo))
            futures = [(slot, report, key, review_report_task.submit(inbox, out, report, checker, settings, config))
                       for slot, report, key in todo]
            for slot, report, key, future in futures:
                summary = future.result()
                if summary.get("pending"):
                    if saved.get(slot, {}).get("sha256") != report.sha256:
                        _forget(out, saved, slot)
                    outcome.pending[slot] = pending_label(report, config)
                else:
                    saved[slot] = {"key": key, "sha256": report.sha256, "summary": summary}
                    outcome.reviewed += 1
                outcome.summaries[slot] = summary
        except CheckerUnavailable as exc:  # could not even start
            progress("Språkgranskningen är inte tillgänglig: %s", exc)
            for slot, report, _ in todo:
                outcome.summaries[slot] = pending_summary(str(exc))
                outcome.pending[slot] = pending_label(report, config)
        finally:
            checker.close()
    return outcome



def _forget(out: Storage, saved: dict, slot: str) -> None:
    partner, piece = slot.split("/", 1)
    for key in review_keys(partner, piece).values():
        out.delete(key)
    saved.pop(slot, None)
