"""The intake flow: list the inbox, screen, convert (one task per batch of documents,
batches side by side), record verdicts, rejection notes and the tracker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows.artifacts import RunProgress, publish_artifacts
from flows.notify import PartnerMail, notify_failed_run, say_delivery
from flows.policies import IO_TASK, collect_rarely
from flows.progress import progress
from flows.recovery import refuse_endless_restarts
from flows.review import review_steps
from flows.storage import open_storage
from tasks.core.config import Config, load_config
from tasks.core.parallel import interleaved, workers
from tasks.core.templating import stockholm_today
from tasks.draft.summary import run_summary
from tasks.intake.inbox import Arrivals, InboxFile, scan_inbox, write_rejections
from tasks.intake.normalise import (
    Report,
    apply_conversions,
    convert_and_keep,
    pending_conversions,
    plan_conversions,
)
from tasks.intake.tracker import build_tracker, write_tracker
from tasks.notify.outbox import Delivery
from tasks.personal.filenames import shown_keys
from tasks.personal.rules import load_rules
from tasks.personal.scan import scan_reports, with_masked_titles
from tasks.review.early import after_conversion
from tasks.review.settings import check_templates
from tasks.roundtrip.points import open_review_counts
from tasks.storage.base import Storage
from tasks.storage.state import dump_state, load_state, save_state

scan_inbox_task = task(scan_inbox, name="scan_inbox", cache_policy=NONE, **IO_TASK)
write_tracker_task = task(write_tracker, name="write_tracker", cache_policy=NONE, **IO_TASK)
scan_reports_task = task(scan_reports, name="scan_reports", cache_policy=NONE, **IO_TASK)


@task(name="convert_files", cache_policy=NONE, **IO_TASK)
def convert_files_task(inbox: Storage, out: Storage, files: list[InboxFile], config: Config, on_progress=None,
                       on_result=None):
    """One batch: each file kept as soon as it is converted (a retry or a rerun after a kill
    converts only the rest) and handed to ``on_result``."""
    return convert_and_keep(inbox, out, files, config, parallel=1, on_progress=on_progress, on_result=on_result)


@dataclass
class IntakeResult:
    files: list[InboxFile]
    reports: dict[str, Report]
    converted: int = 0
    tracker: dict = field(default_factory=dict)
    reused: int = 0  # conversions kept by an earlier run that was killed or failed
    reviews: dict[str, dict] = field(default_factory=dict)  # slot key -> review summary
    pending_reviews: dict[str, str] = field(default_factory=dict)  # slot key -> label
    personal: dict[str, dict] = field(default_factory=dict)  # slot key -> personal data found (kinds, counts)
    shown: dict[str, str] = field(default_factory=dict)  # inbox key -> as shown to others (personal data masked)
    email: Delivery | None = None  # what the partners' e-mail came to (None: e-mail never on)


def intake_steps(inbox: Storage, out: Storage, config: Config, today: date, bar: RunProgress | None = None,
                 span: tuple[float, float] = (0.0, 100.0), review: bool = True,
                 points: list[dict] = (), hand_over: float | None = None) -> IntakeResult:
    """The intake as a sequence of tasks (used by both flows) on the day ``today``. ``bar`` shows
    the conversions in the ``span`` part of a progress artifact; ``review=False`` skips new
    language reviews; ``points``: reviewers' points just harvested (a build), told in the
    partners' e-mail; ``hand_over``: stop reviewing when a new file has waited this many
    seconds (the run it started reviews the rest; see :class:`~tasks.intake.inbox.Arrivals`)."""
    state = load_state(out)
    loaded = dump_state(state)
    # What was here before this run: a partner's first e-mail is never about old files.
    known_before = {(key, seen.get("etag")) for key, seen in state.screening.files.items()}
    mail = PartnerMail(out, config, known_before, today, points)
    files = scan_inbox_task(inbox, config, quote(state.screening))
    rejected = sum(f.verdict == "rejected" for f in files)
    progress("Inkorgen: %d filer, %d godtagna, %d avvisade", len(files),
             sum(f.verdict == "accepted" for f in files), rejected)
    todo, reports = plan_conversions(files, state.conversions)
    rules = load_rules(config.templates, config.registry)  # personal data: in file names and reports
    converted = reused = 0
    early: dict[str, dict] = {}  # personal data found in the batches, by slot
    after = after_conversion(out, files, config, rules, early)
    while todo:
        need = pending_conversions(todo, state.conversions)
        results = {}
        if need:
            progress("Konverterar %d dokument", len(need))
            batches = interleaved(need, workers())
            counter = bar.counter(len(need), *span) if bar else None
            futures = [convert_files_task.submit(inbox, out, batch, config, counter.batch(i) if counter else None,
                                                 after)
                       for i, batch in enumerate(batches)]
            done_here = []
            for fut, batch in zip(futures, batches):
                outcomes, kept = fut.result()
                results.update(outcomes)
                reused += len(kept)
                converted += len(batch) - len(kept)
                done_here += [f.key for f in batch if f.key not in kept]
            if done_here:  # file names as shown to others: a name or number in one is masked
                shown_here = shown_keys(done_here, rules)
                progress("Konverterade i den här körningen: %s", "; ".join(sorted(shown_here.values())))
            if reused:
                progress("%d dokument var redan konverterade av en tidigare, avbruten körning", reused)
        todo = apply_conversions(out, files, todo, results, state.conversions, config, reports,
                                 checkpoint=lambda: save_state(out, state))
    # Personal data: found once per report and rules; from here on titles are masked, and
    # file names are shown to others as `shown` gives them.
    personal = scan_reports_task(out, quote(reports), rules, quote(state.personal), quote(early))
    reports = with_masked_titles(reports, personal)
    shown = shown_keys([f.key for f in files], rules, personal.sources)
    write_rejections(out, files, config, state.notes, shown)
    if review and reports:
        mail.hold(files, reports, personal.summaries, shown)  # the receipts wait for the review, a while
        # Every file's verdict is known now: the tracker shows it before the (longer) language
        # review; the reviews appear in it when the run ends.
        write_tracker_task(out, quote(build_tracker(files, reports, config, feedback_open=open_review_counts(out),
                                                    personal=personal.summaries, shown=shown,
                                                    today=today)), config)
    reviews = review_steps(inbox, out, config, reports, state.reviews, enabled=review,
                           hand_over=None if hand_over is None else Arrivals(inbox, files, after=hand_over))
    if reviews.handed_over:
        progress("Nya filer har kommit: nästa körning språkgranskar %d delrapporter", reviews.handed_over)
    if bar:
        bar.set(span[1])
    save_state(out, state, loaded)
    tracker = build_tracker(files, reports, config, reviews=reviews.summaries,
                            feedback_open=open_review_counts(out), personal=personal.summaries, shown=shown,
                            today=today)
    write_tracker_task(out, quote(tracker), config)
    email = mail.send(files, reports, reviews.summaries, personal.summaries, shown)
    say_delivery(email)
    return IntakeResult(files, reports, converted, tracker, reused, reviews.summaries, reviews.pending,
                        personal.summaries, shown, email)


@flow(name="intake", task_runner=ThreadPoolTaskRunner(max_workers=workers()),
      on_failure=[notify_failed_run], on_crashed=[notify_failed_run])
def intake(inbox: str = "inbox", out: str = "outputs", review: bool = True, templates: str | None = None,
           today: date | None = None, hand_over: float | None = None) -> dict:
    """Normalise (and review) everything new in the inbox; write rejections and the tracker.

    Args:
        inbox: The inbox: a folder (relative to the utkast checkout) or s3://bucket/prefix.
        out: Where outputs go: a folder or s3://bucket/prefix.
        review: Run the Swedish language review on new reports.
        templates: The configuration folder; empty means templates/ of the utkast checkout.
        today: The day the run takes as today (due dates, reminders); empty means today in Stockholm.
        hand_over: Seconds a file that arrives during the language review waits before this
            run stops reviewing and leaves the rest to the run the file started (the event
            trigger's schedule_after), so that its verdict does not wait for other reports'
            reviews. Empty: review everything (runs nothing follows).
    """
    refuse_endless_restarts()  # a run that crashed again and again is not started once more
    collect_rarely()
    config = load_config(templates)
    check_templates(config)  # a typo anywhere in templates/ fails the run before any work
    inbox_store, out_store = open_storage(inbox), open_storage(out)
    bar = RunProgress("Inkorgen läses in")
    with out_store.lock():
        result = intake_steps(inbox_store, out_store, config, today or stockholm_today(), bar, (0.0, 95.0),
                              review=review, hand_over=hand_over)
    progress("Klart: %d konverterade, %d delrapporter inne", result.converted, len(result.reports))
    summary = run_summary(out_store, config, result.tracker, converted=result.converted, reports=len(result.reports),
                          reused=result.reused, pending=result.pending_reviews.values(), personal=result.personal,
                          email=result.email)
    publish_artifacts(summary)
    bar.set(100.0)
    return summary
