"""The build flow: intake, merge per paket, render, publish the draft, refresh the
reviewers' page. A build whose content equals the latest draft publishes nothing new."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows.artifacts import (
    RunProgress,
    change_labels,
    partner_names,
    personal_entries,
    publish_artifacts,
    rejected_files,
    review_links,
)
from flows.intake import email_summary, intake_steps
from flows.notify import after_build_task, link_maker, notify_failed_run, say_delivery
from flows.policies import IO_TASK
from flows.progress import progress
from flows.recovery import refuse_endless_restarts
from flows.review import write_sprak_task
from flows.roundtrip import (
    harvest_feedback_task,
    publish_changes_artifact,
    publish_changes_task,
    publish_feedback_artifact,
)
from tasks.core.config import load_config
from tasks.core.errors import ChangedDuringRun, PersonalDataFound
from tasks.core.parallel import workers
from tasks.draft.catalogue import publish, read_latest, read_manifest
from tasks.draft.index import write_index
from tasks.draft.manifest import build_manifest, new_version
from tasks.draft.merge import merge_sections, selected_paket
from tasks.draft.plan import plan_build
from tasks.draft.render import ensure_formats, render_draft
from tasks.draft.stamp import build_options, forget_stamp, save_stamp
from tasks.intake.tracker import readability_rows, tracker_table
from tasks.notify import reminders
from tasks.notify.outbox import Delivery
from tasks.review.settings import check_templates
from tasks.storage import open_storage
from tasks.storage.base import DEFAULT_LINK_SECONDS, scratch_dir

merge_sections_task = task(merge_sections, name="merge_sections", cache_policy=NONE, **IO_TASK)
render_draft_task = task(render_draft, name="render_draft", cache_policy=NONE, **IO_TASK)
publish_task = task(publish, name="publish", cache_policy=NONE, **IO_TASK)
write_index_task = task(write_index, name="write_index", cache_policy=NONE, **IO_TASK)

# The choices the Prefect UI offers in the run form (the outline in templates/ is still checked).
Format = Literal["docx", "pdf", "html"]
PaketNumber = Literal[1, 2, 3, 4, 5]


@flow(name="build_draft", task_runner=ThreadPoolTaskRunner(max_workers=workers()),
      on_failure=[notify_failed_run], on_crashed=[notify_failed_run])
def build_draft(
    inbox: str = "inbox",
    out: str = "outputs",
    review: bool = True,
    formats: list[Format] | None = None,
    packages: list[PaketNumber] | None = None,
) -> dict:
    """Build and publish a draft from whatever has arrived in the inbox.

    Args:
        inbox: The inbox: a folder (relative to the utkast checkout) or s3://bucket/prefix.
        out: Where outputs and drafts go: a folder or s3://bucket/prefix.
        review: Run the Swedish language review on new reports.
        formats: Draft formats to publish; empty means all in templates/settings.toml (docx, pdf, html).
        packages: Build only these paket (work packages 1-5); empty means all.
    """
    refuse_endless_restarts()  # a run that crashed again and again is not started once more
    config = load_config()
    check_templates(config)  # a typo anywhere in templates/ fails the run before any work
    formats = ensure_formats(list(formats or config.settings.formats))
    selected_paket(config, packages)  # fail early on an unknown paket
    inbox_store, out_store = open_storage(inbox), open_storage(out)
    links = config.settings.link_seconds
    bar = RunProgress("Utkastet byggs")
    options = build_options(formats, packages, review)
    with out_store.lock():
        forget_stamp(out_store)  # until this build has ended
        feedback = harvest_feedback_task(inbox_store, out_store, config)  # before the tracker counts it
        result = intake_steps(inbox_store, out_store, config, bar, (0.0, 70.0), review=review)
        latest = read_latest(out_store)
        plan = plan_build(config, result.reports, result.pending_reviews, result.personal, formats, packages,
                          latest)
        if plan.action == "stop":
            progress("Personuppgifter i %d delrapporter: inget utkast publiceras (personal_data.action = stop)",
                     len(plan.personal))
            publish_feedback_artifact(out_store, feedback, links)
            publish_artifacts(stopped_summary(out_store, result.converted, result.tracker, plan.personal, links,
                                              email=result.email))
            bar.set(100.0)
            raise PersonalDataFound(plan.stop_labels(config))
        if plan.action == "unchanged":
            progress("Inget nytt sedan utkast %s; inget nytt utkast publiceras", latest["version"])
            write_index_task(out_store, config, links)
            email = tell_reviewers(out_store, config, result.email)
            publish_feedback_artifact(out_store, feedback, links)
            done = summary(out_store, latest, published=False, converted=result.converted, tracker=result.tracker,
                           link_seconds=links, pending=plan.pending, personal=plan.personal, email=email)
            if settled(result, plan, feedback, email):
                save_stamp(inbox_store, out_store, config, options, done)
            publish_artifacts(done)
            bar.set(100.0)
            return done
        created = time.time()
        version = new_version(plan.fingerprint, created)
        # One voice: terms written in more than one way (drafts/<version>/sprak.json|html), made
        # beside the merge and the render (they wait on pandoc most of the time), before latest.json moves.
        sprak = write_sprak_task.submit(out_store, config, quote(plan.reports), version)
        progress("Slår ihop %d delrapporter i %d paket", len(plan.reports), len(plan.chosen))
        sections = merge_sections_task(out_store, quote(plan.reports), config, packages, formats)
        bar.set(75.0)
        with scratch_dir("utkast-render-") as tmp:
            progress("Skapar utkast %s (%s)", version, ", ".join(formats))
            rendered = render_draft_task(out_store, quote(sections), quote(plan.reports), config, version, created,
                                         formats, Path(tmp), packages, plan.pending)
            bar.set(95.0)
            previous = read_manifest(out_store, latest["version"]) if latest else None
            manifest = build_manifest(rendered, plan.fingerprint, result.files, plan.reports, config, previous,
                                      {"formats": formats, "packages": packages, "review": review},
                                      reviews=result.reviews, pending_reviews=plan.pending, personal=plan.personal,
                                      shown=result.shown)
            changes = publish_changes_task(out_store, config, quote(rendered), quote(manifest), quote(previous))
            sprak.result()
            latest = publish_task(out_store, quote(rendered), quote(manifest))
        write_index_task(out_store, config, links)
        email = tell_reviewers(out_store, config, result.email)
        done = summary(out_store, latest, published=True, converted=result.converted, tracker=result.tracker,
                       link_seconds=links, changes=manifest["changes"], pending=plan.pending, personal=plan.personal,
                       email=email)
        if settled(result, plan, feedback, email) and not rendered.problems:
            save_stamp(inbox_store, out_store, config, options, done)
    publish_changes_artifact(out_store, changes, links)
    publish_feedback_artifact(out_store, feedback, links)
    for fmt, problem in rendered.problems.items():
        progress("Varning: %s", problem)
    progress("Utkast %s publicerat", version)
    publish_artifacts(done)
    bar.set(100.0)
    return done


def settled(result, plan, feedback: dict, email: Delivery | None) -> bool:
    """Whether a build left nothing for the next one to do (so the next build of the same
    inputs may say "nothing new" without doing the work: tasks/draft/stamp.py)."""
    changed = any(f.reason_code == ChangedDuringRun.code for f in result.files)
    waiting = bool(email and email.waiting)  # messages the next run must try again
    return not plan.pending and not changed and not feedback.get("status_problems") and not waiting


def tell_reviewers(out, config, intake_email: Delivery | None) -> Delivery | None:
    """The latest draft to the reviewers (once each); the run's e-mail so far and now."""
    email = after_build_task(out, config, reminders.today(), link_maker(out))
    say_delivery(email)
    if intake_email and email:
        return intake_email.then(email)
    return email or intake_email


def summary(out, latest: dict, *, published: bool, converted: int, tracker: dict,
            link_seconds: int = DEFAULT_LINK_SECONDS, changes: dict | None = None, pending=(),
            personal: dict[str, dict] | None = None, email: Delivery | None = None) -> dict:
    """What the command line prints, the flow returns and the artifacts show (links: paths, or
    presigned URLs; ``changes``: the new draft's changes since the previous one, None when
    nothing was published; ``pending``: reports whose language review is pending;
    ``personal``: reports whose personal data was masked)."""
    return {
        "published": published,
        "version": latest["version"],
        "draft": {fmt: out.href(key, filename=f"utkast-{latest['version']}.{fmt}", expires=link_seconds)
                  for fmt, key in latest["formats"].items()},
        "index": out.href("drafts/index.html", expires=link_seconds),
        "status": out.href("status.html", expires=link_seconds),
        "changes_page": out.href(f"drafts/{latest['version']}/andringar.html", expires=link_seconds),
        "feedback_page": out.href("feedback/index.html", expires=link_seconds),
        "converted": converted,
        "counts": tracker["counts"],
        "missing": tracker["missing"],
        "tracker": tracker_table(tracker),
        "rejected_files": rejected_files(tracker),
        "changes": change_labels(changes, partner_names(tracker)),
        "reviews": review_links(out, tracker, link_seconds),
        "pending_reviews": list(pending),
        "personal": personal_entries(personal or {}, tracker),
        "personal_action": "mask",
        "readability": readability_rows(tracker),
        **email_summary(email),
    }


def stopped_summary(out, converted: int, tracker: dict, personal: dict[str, dict],
                    link_seconds: int = DEFAULT_LINK_SECONDS, email: Delivery | None = None) -> dict:
    """The artifacts of a build stopped by personal data (``[personal_data] action = "stop"``)."""
    return {
        "published": False,
        "stopped": True,
        "index": out.href("drafts/index.html", expires=link_seconds),
        "status": out.href("status.html", expires=link_seconds),
        "converted": converted,
        "counts": tracker["counts"],
        "missing": tracker["missing"],
        "tracker": tracker_table(tracker),
        "rejected_files": rejected_files(tracker),
        "reviews": review_links(out, tracker, link_seconds),
        "personal": personal_entries(personal, tracker),
        "personal_action": "stop",
        **email_summary(email),
    }
