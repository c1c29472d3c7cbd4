"""The build flow: intake, merge per paket, render, publish the draft, refresh the
reviewers' page. A build whose content equals the latest draft publishes nothing new.

Wiring only: what a build does is decided in tasks/ (the plan: :func:`tasks.draft.plan.plan_build`;
whether the next build may skip the work: :func:`tasks.draft.stamp.settled`; what it came to:
:func:`tasks.draft.summary.run_summary`)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Literal

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows.artifacts import RunProgress, publish_artifacts
from flows.intake import IntakeResult, intake_steps
from flows.notify import after_build_task, link_maker, notify_failed_run, say_delivery
from flows.policies import IO_TASK, collect_rarely
from flows.progress import progress
from flows.recovery import refuse_endless_restarts
from flows.review import write_sprak_task
from flows.roundtrip import (
    harvest_feedback_task,
    publish_changes_artifact,
    publish_changes_task,
    publish_feedback_artifact,
)
from flows.storage import open_storage
from tasks.core.config import load_config
from tasks.core.errors import PersonalDataFound
from tasks.core.formats import DraftFormat
from tasks.core.parallel import workers
from tasks.core.templating import stockholm_today
from tasks.draft.catalogue import publish, read_latest, read_manifest
from tasks.draft.index import write_index
from tasks.draft.manifest import build_manifest, new_version
from tasks.draft.merge import merge_sections, selected_paket
from tasks.draft.plan import BuildPlan, plan_build
from tasks.draft.render import ensure_formats, render_draft
from tasks.draft.stamp import build_options, forget_stamp, inputs_found, save_stamp, settled
from tasks.draft.summary import run_summary
from tasks.notify.outbox import Delivery
from tasks.review.settings import check_templates
from tasks.roundtrip.points import STATUS_KEY
from tasks.storage.base import scratch_dir

merge_sections_task = task(merge_sections, name="merge_sections", cache_policy=NONE, **IO_TASK)
render_draft_task = task(render_draft, name="render_draft", cache_policy=NONE, **IO_TASK)
publish_task = task(publish, name="publish", cache_policy=NONE, **IO_TASK)
write_index_task = task(write_index, name="write_index", cache_policy=NONE, **IO_TASK)

# The choices the Prefect UI offers in the run form (the outline in templates/ is still checked),
# with the draft formats of tasks/core/formats.py.
PaketNumber = Literal[1, 2, 3, 4, 5]


@flow(name="build_draft", task_runner=ThreadPoolTaskRunner(max_workers=workers()),
      on_failure=[notify_failed_run], on_crashed=[notify_failed_run])
def build_draft(
    inbox: str = "inbox",
    out: str = "outputs",
    review: bool = True,
    formats: list[DraftFormat] | None = None,
    packages: list[PaketNumber] | None = None,
    templates: str | None = None,
    today: date | None = None,
) -> dict:
    """Build and publish a draft from whatever has arrived in the inbox.

    Args:
        inbox: The inbox: a folder (relative to the utkast checkout) or s3://bucket/prefix.
        out: Where outputs and drafts go: a folder or s3://bucket/prefix.
        review: Run the Swedish language review on new reports.
        formats: Draft formats to publish; empty means all in templates/settings.toml (docx, pdf, html).
        packages: Build only these paket (work packages 1-5); empty means all.
        templates: The configuration folder; empty means templates/ of the utkast checkout.
        today: The day the run takes as today (due dates, reminders); empty means today in Stockholm.
    """
    refuse_endless_restarts()  # a run that crashed again and again is not started once more
    collect_rarely()
    config = load_config(templates)
    check_templates(config)  # a typo anywhere in templates/ fails the run before any work
    today = today or stockholm_today()
    formats = ensure_formats(list(formats or config.settings.formats))
    selected_paket(config, packages)  # fail early on an unknown paket
    inbox_store, out_store = open_storage(inbox), open_storage(out)
    links = config.settings.link_seconds
    bar = RunProgress("Utkastet byggs")
    options = build_options(formats, packages, review, today)
    with out_store.lock():
        forget_stamp(out_store)  # until this build has ended
        seen = inputs_found(inbox_store, out_store, edited=[STATUS_KEY])  # what the stamp may say it read
        feedback = harvest_feedback_task(inbox_store, out_store, config)  # before the tracker counts it
        result = intake_steps(inbox_store, out_store, config, today, bar, (0.0, 70.0), review=review,
                              points=feedback["points"])
        latest = read_latest(out_store)
        plan = plan_build(config, result.reports, result.pending_reviews, result.personal, formats, packages,
                          latest)
        if plan.action == "stop":
            stop_build(out_store, config, result, plan, feedback, bar)
        if plan.action == "unchanged":
            progress("Inget nytt sedan utkast %s; inget nytt utkast publiceras", latest["version"])
            write_index_task(out_store, config, links)
            email = tell_reviewers(out_store, config, today, result.email)
            publish_feedback_artifact(out_store, feedback, links)
            done = run_summary(out_store, config, result.tracker, latest=latest, converted=result.converted,
                               pending=plan.pending, personal=plan.personal, email=email)
            if settled(result.files, plan.pending, feedback, email):
                save_stamp(seen, out_store, config, options, done)
            publish_artifacts(done)
            bar.set(100.0)
            return done
        done, changes, rendered, email = publish_draft(out_store, config, today, result, plan, latest, bar,
                                                       formats=formats, packages=packages, review=review)
        if settled(result.files, plan.pending, feedback, email, rendered.problems):
            save_stamp(seen, out_store, config, options, done)
    publish_changes_artifact(out_store, changes, links)
    publish_feedback_artifact(out_store, feedback, links)
    for fmt, problem in rendered.problems.items():
        progress("Varning: %s", problem)
    progress("Utkast %s publicerat", done["version"])
    publish_artifacts(done)
    bar.set(100.0)
    return done


def publish_draft(out, config, today: date, result: IntakeResult, plan: BuildPlan, latest: dict | None,
                  bar: RunProgress, *, formats: list[str], packages: list[int] | None, review: bool):
    """Merge, render and publish a new draft of ``plan``, then refresh the reviewers' page and
    tell the reviewers. Returns the run's summary, the changes since the previous draft, what
    was rendered and the run's e-mail."""
    created = time.time()
    version = new_version(plan.fingerprint, created)
    # One voice: terms written in more than one way (drafts/<version>/sprak.json|html), made beside
    # the merge and the render (they wait on pandoc most of the time), done before latest.json moves.
    sprak = write_sprak_task.submit(out, config, quote(plan.reports), version)
    progress("Slår ihop %d delrapporter i %d paket", len(plan.reports), len(plan.chosen))
    sections = merge_sections_task(out, quote(plan.reports), config, packages, formats)
    bar.set(75.0)
    with scratch_dir("utkast-render-") as tmp:
        progress("Skapar utkast %s (%s)", version, ", ".join(formats))
        rendered = render_draft_task(out, quote(sections), quote(plan.reports), config, version, created,
                                     formats, Path(tmp), packages, plan.pending)
        bar.set(95.0)
        previous = read_manifest(out, latest["version"]) if latest else None
        manifest = build_manifest(rendered, plan.fingerprint, result.files, plan.reports, config, previous,
                                  {"formats": formats, "packages": packages, "review": review},
                                  reviews=result.reviews, pending_reviews=plan.pending, personal=plan.personal,
                                  shown=result.shown)
        changes = publish_changes_task(out, config, quote(rendered), quote(manifest), quote(previous))
        sprak.result()
        latest = publish_task(out, quote(rendered), quote(manifest))
    write_index_task(out, config, config.settings.link_seconds)
    email = tell_reviewers(out, config, today, result.email)
    done = run_summary(out, config, result.tracker, latest=latest, published=True, converted=result.converted,
                       changes=manifest["changes"], pending=plan.pending, personal=plan.personal, email=email)
    return done, changes, rendered, email


def stop_build(out, config, result: IntakeResult, plan: BuildPlan, feedback: dict, bar: RunProgress) -> None:
    """Publish nothing: personal data in the chosen paket with ``[personal_data] action = "stop"``.
    The artifacts say which reports; the run fails with :class:`PersonalDataFound`."""
    progress("Personuppgifter i %d delrapporter: inget utkast publiceras (personal_data.action = stop)",
             len(plan.personal))
    publish_feedback_artifact(out, feedback, config.settings.link_seconds)
    publish_artifacts(run_summary(out, config, result.tracker, stopped=True, converted=result.converted,
                                  personal=plan.personal, email=result.email))
    bar.set(100.0)
    raise PersonalDataFound(plan.stop_labels(config))


def tell_reviewers(out, config, today: date, intake_email: Delivery | None) -> Delivery | None:
    """The latest draft to the reviewers (once each); the run's e-mail so far and now."""
    email = after_build_task(out, config, today, link_maker(out, config))
    say_delivery(email)
    if intake_email and email:
        return intake_email.then(email)
    return email or intake_email
