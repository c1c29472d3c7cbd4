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
from flows.intake import intake_steps
from flows.policies import IO_TASK
from flows.progress import progress
from flows.review import write_sprak_task
from flows.roundtrip import (
    harvest_feedback_task,
    publish_changes_artifact,
    publish_changes_task,
    publish_feedback_artifact,
)
from tasks.core.config import load_config
from tasks.core.errors import PersonalDataFound
from tasks.draft.catalogue import publish, read_latest, read_manifest
from tasks.draft.index import write_index
from tasks.draft.manifest import build_manifest, draft_fingerprint, new_version
from tasks.draft.merge import merge_sections, selected_paket
from tasks.draft.render import ensure_formats, render_draft
from tasks.intake.normalise import slot_key, workers
from tasks.intake.tracker import readability_rows, tracker_table
from tasks.storage import open_storage
from tasks.storage.base import DEFAULT_LINK_SECONDS, scratch_dir

merge_sections_task = task(merge_sections, name="merge_sections", cache_policy=NONE, **IO_TASK)
render_draft_task = task(render_draft, name="render_draft", cache_policy=NONE, **IO_TASK)
publish_task = task(publish, name="publish", cache_policy=NONE, **IO_TASK)
write_index_task = task(write_index, name="write_index", cache_policy=NONE, **IO_TASK)

# The choices the Prefect UI offers in the run form (the outline in templates/ is still checked).
Format = Literal["docx", "pdf", "html"]
PaketNumber = Literal[1, 2, 3, 4, 5]


@flow(name="build_draft", task_runner=ThreadPoolTaskRunner(max_workers=workers()))
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
    config = load_config()
    formats = ensure_formats(list(formats or config.settings.formats))
    selected_paket(config, packages)  # fail early on an unknown paket
    inbox_store, out_store = open_storage(inbox), open_storage(out)
    bar = RunProgress("Utkastet byggs")
    with out_store.lock():
        feedback = harvest_feedback_task(inbox_store, out_store, config)  # before the tracker counts it
        result = intake_steps(inbox_store, out_store, config, bar, (0.0, 70.0), review=review)
        chosen = {p.number for p in selected_paket(config, packages)}
        reports = [r for r in result.reports.values() if config.outline.pieces[r.piece].paket in chosen]
        pending = sorted(label for slot, label in result.pending_reviews.items()
                         if config.outline.pieces[slot.split("/", 1)[1]].paket in chosen)
        personal = {slot: found for slot, found in result.personal.items()
                    if config.outline.pieces[slot.split("/", 1)[1]].paket in chosen}
        if personal and config.settings.personal_action == "stop":
            progress("Personuppgifter i %d delrapporter: inget utkast publiceras (personal_data.action = stop)",
                     len(personal))
            publish_feedback_artifact(out_store, feedback, config.settings.link_seconds)
            publish_artifacts(stopped_summary(out_store, result.converted, result.tracker, personal,
                                              config.settings.link_seconds))
            bar.set(100.0)
            names = partner_names(result.tracker)
            raise PersonalDataFound([f"{slot.split('/', 1)[1]} ({names.get(slot.split('/', 1)[0])})"
                                     for slot in sorted(personal, key=lambda s: (s.split("/", 1)[1], s))])
        fingerprint = draft_fingerprint(reports, config, formats, packages, pending)
        latest = read_latest(out_store)
        if latest and latest["fingerprint"] == fingerprint:
            progress("Inget nytt sedan utkast %s; inget nytt utkast publiceras", latest["version"])
            write_index_task(out_store, config, config.settings.link_seconds)
            publish_feedback_artifact(out_store, feedback, config.settings.link_seconds)
            done = summary(out_store, latest, published=False, converted=result.converted, tracker=result.tracker,
                           link_seconds=config.settings.link_seconds, pending=pending, personal=personal)
            publish_artifacts(done)
            bar.set(100.0)
            return done
        progress("Slår ihop %d delrapporter i %d paket", len(reports), len(chosen))
        sections = merge_sections_task(out_store, quote(reports), config, packages)
        bar.set(75.0)
        created = time.time()
        version = new_version(fingerprint, created)
        with scratch_dir("utkast-render-") as tmp:
            progress("Skapar utkast %s (%s)", version, ", ".join(formats))
            rendered = render_draft_task(out_store, sections, quote(reports), config, version, created,
                                         formats, Path(tmp), packages, pending)
            bar.set(95.0)
            previous = read_manifest(out_store, latest["version"]) if latest else None
            manifest = build_manifest(rendered, fingerprint, result.files, reports, config, previous,
                                      {"formats": formats, "packages": packages, "review": review},
                                      reviews=result.reviews)
            manifest["pending_reviews"] = pending
            for entry in manifest["reports"]:  # kinds, counts and places: never the values
                entry["personal_data"] = personal.get(slot_key(entry["partner"], entry["piece"]))
            changes = publish_changes_task(out_store, config, rendered, quote(manifest), quote(previous))
            # One voice: terms written in more than one way (drafts/<version>/sprak.json|html), before latest.json moves.
            write_sprak_task(out_store, config, quote(reports), version)
            latest = publish_task(out_store, rendered, quote(manifest))
        write_index_task(out_store, config, config.settings.link_seconds)
    publish_changes_artifact(out_store, changes, config.settings.link_seconds)
    publish_feedback_artifact(out_store, feedback, config.settings.link_seconds)
    for fmt, problem in rendered.problems.items():
        progress("Varning: %s", problem)
    progress("Utkast %s publicerat", version)
    done = summary(out_store, latest, published=True, converted=result.converted, tracker=result.tracker,
                   link_seconds=config.settings.link_seconds, changes=manifest["changes"], pending=pending,
                   personal=personal)
    publish_artifacts(done)
    bar.set(100.0)
    return done


def summary(out, latest: dict, *, published: bool, converted: int, tracker: dict,
            link_seconds: int = DEFAULT_LINK_SECONDS, changes: dict | None = None, pending=(),
            personal: dict[str, dict] | None = None) -> dict:
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
    }


def stopped_summary(out, converted: int, tracker: dict, personal: dict[str, dict],
                    link_seconds: int = DEFAULT_LINK_SECONDS) -> dict:
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
    }
