"""The language review in the flows: one Prefect task per report whose review is missing or
stale, side by side; a checker that cannot be loaded or reached marks those reviews
pending ("granskning väntar") instead of failing the run, and the next run reviews them."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from flows.policies import CHECKER_TAG, IO_TASK
from flows.progress import log, progress
from tasks.core.config import Config
from tasks.core.errors import CheckerUnavailable, StorageError
from tasks.intake.normalise import Report
from tasks.review.checker import Checker, open_checker
from tasks.review.plan import ReviewOutcome, forget_review, plan_reviews, record_review
from tasks.review.run import (
    ReportChanged,
    pending_label,
    pending_summary,
    review_key,
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


def review_steps(inbox: Storage, out: Storage, config: Config, reports: dict[str, Report],
                 saved: dict[str, dict], enabled: bool = True) -> ReviewOutcome:
    """Review the reports whose review is missing or stale, side by side; reuse the rest
    (``saved``: the run state's reviews section, see :mod:`tasks.review.plan`)."""
    settings = load_review_settings(config.templates, config.registry)
    checker = open_checker(settings.tuning)
    plan = plan_reviews(reports, saved, lambda report: review_key(report, checker, settings), enabled)
    for slot in plan.forget:
        forget_review(out, saved, slot)
    outcome = ReviewOutcome(summaries=dict(plan.reuse))
    if plan.todo:
        progress("Språkgranskar %d delrapporter (%s)", len(plan.todo), checker.description)
        try:
            checker.prepare(plan.words)
            futures = [(slot, report, key, review_report_task.submit(inbox, out, report, checker, settings, config))
                       for slot, report, key in plan.todo]
            for slot, report, key, future in futures:
                summary = future.result()
                outcome.summaries[slot] = summary
                if record_review(out, saved, slot, report, key, summary):
                    outcome.pending[slot] = pending_label(report, config)
                else:
                    outcome.reviewed += 1
        except CheckerUnavailable as exc:  # could not even start
            progress("Språkgranskningen är inte tillgänglig: %s", exc)
            for slot, report, _ in plan.todo:
                outcome.summaries[slot] = pending_summary(str(exc))
                outcome.pending[slot] = pending_label(report, config)
        finally:
            checker.close()
    return outcome
