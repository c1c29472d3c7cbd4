"""The language review in the flows: the reports whose review is missing or stale, in one
Prefect task per batch (as many batches as cores), side by side; a checker that cannot be loaded or reached marks those reviews
pending ("granskning väntar") instead of failing the run, and the next run reviews them."""

from __future__ import annotations

from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NONE

from flows.beside import write_sprak_beside
from flows.policies import CHECKER_TAG, IO_TASK
from flows.progress import log, progress
from tasks.core.config import Config
from tasks.core.errors import CheckerUnavailable, StorageError
from tasks.core.parallel import interleaved, workers
from tasks.intake.normalise import Report
from tasks.review.checker import Checker, open_checker
from tasks.review.plan import (
    ReviewOutcome,
    forget_review,
    keep_review,
    kept_reviews,
    plan_reviews,
    record_review,
    unkeep_review,
)
from tasks.review.run import (
    ReportChanged,
    pending_label,
    pending_summary,
    review_key,
    review_report,
)
from tasks.review.settings import ReviewSettings, load_review_settings
from tasks.storage.base import Storage

# Why a review waits when a run stops reviewing because new files arrived (run summaries, logs).
HANDED_OVER = "new files arrived in the inbox: the next run reviews this report"

# The draft's language page (drafts/<version>/sprak.json|html): terms written in more than one way,
# found in a process of its own (flows/beside.py).
write_sprak_task = task(write_sprak_beside, name="write_sprak", cache_policy=NONE, **IO_TASK)


def review_one(inbox: Storage, out: Storage, todo: tuple[str, Report, str], checker: Checker,
               settings: ReviewSettings, config: Config) -> dict:
    """Review one report (``todo``: slot, report, review key) and keep the review at once; an
    unavailable checker or a file that changed leaves it pending."""
    slot, report, key = todo
    try:
        unkeep_review(out, slot)
        summary = review_report(inbox, out, report, checker, settings, config)
        keep_review(out, slot, key, report, summary)
        return summary
    except (CheckerUnavailable, ReportChanged) as exc:
        progress("Språkgranskning väntar för %s/%s: %s", report.partner, report.piece, exc)
        return pending_summary(str(exc))
    except StorageError:
        raise  # infrastructure: retried, then fails the run
    except Exception as exc:  # one odd document must not stop the draft; tried again next run
        log.exception("language review of %s/%s failed", report.partner, report.piece)
        return pending_summary(f"the review failed: {exc}")


@task(name="review_reports", cache_policy=NONE, tags=[CHECKER_TAG], **IO_TASK)
def review_reports_task(inbox: Storage, out: Storage, todo: list[tuple[str, Report, str]], checker: Checker,
                        settings: ReviewSettings, config: Config,
                        hand_over: Callable[[], bool] | None = None) -> list[dict]:
    """Review a batch of reports (slot, report, review key), one after the other (:func:`review_one` each).

    ``hand_over`` (optional, asked before each report but the first) says when to stop: the
    rest of the batch is left pending (:data:`HANDED_OVER`) for the next run, which is already
    on its way. The first report is always reviewed, so every run moves the reviews on.

    The tag lets a Prefect concurrency limit bound checker calls across runs and workers: a
    batch holds one slot while it runs, so a burst of reports waits for a free slot once per
    batch rather than once per report (a slot is given back only a moment after a task ends,
    and the next task asks again after the server's retry interval). Storage failures are
    retried like every I/O task (the batch again: its writes are whole files). The checker
    retries its own network calls, so an unreachable server is not waited for again here."""
    summaries = []
    for n, item in enumerate(todo):
        if n and hand_over is not None and hand_over():
            summaries += [pending_summary(HANDED_OVER)] * (len(todo) - n)
            break
        summaries.append(review_one(inbox, out, item, checker, settings, config))
    return summaries


def review_steps(inbox: Storage, out: Storage, config: Config, reports: dict[str, Report],
                 saved: dict[str, dict], enabled: bool = True,
                 hand_over: Callable[[], bool] | None = None) -> ReviewOutcome:
    """Review the reports whose review is missing or stale, side by side; reuse the rest
    (``saved``: the run state's reviews section, see :mod:`tasks.review.plan`). ``hand_over``:
    see :func:`review_reports_task`."""
    settings = load_review_settings(config.templates, config.registry)
    checker = open_checker(settings.tuning)
    plan = plan_reviews(reports, saved, lambda report: review_key(report, checker, settings), enabled)
    for slot in plan.forget:
        forget_review(out, saved, slot)
    outcome = ReviewOutcome(summaries=dict(plan.reuse))
    # Reviews a killed or failed run finished: kept, not done again.
    for slot, summary in kept_reviews(out, plan.todo).items():
        report, key = next((r, k) for s, r, k in plan.todo if s == slot)
        record_review(out, saved, slot, report, key, summary)
        outcome.summaries[slot] = summary
    plan.todo = [item for item in plan.todo if item[0] not in outcome.summaries]
    if plan.todo:
        progress("Språkgranskar %d delrapporter (%s)", len(plan.todo), checker.description)
        try:
            checker.prepare(plan.words)
            # As many batches as cores (the checker's own worker processes use them all), dealt
            # round-robin so that they end together.
            batches = interleaved(plan.todo, workers())
            futures = [(batch, review_reports_task.submit(inbox, out, batch, checker, settings, config, hand_over))
                       for batch in batches]
            done = {}
            for batch, future in futures:
                done.update({slot: summary for (slot, _, _), summary in zip(batch, future.result())})
            for slot, report, key in plan.todo:
                summary = done[slot]
                outcome.summaries[slot] = summary
                if record_review(out, saved, slot, report, key, summary):
                    outcome.pending[slot] = pending_label(report, config)
                    outcome.handed_over += summary.get("reason") == HANDED_OVER
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
