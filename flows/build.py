"""The build flow: intake, merge per paket, render, publish the draft, refresh the
reviewers' page. A build whose content equals the latest draft publishes nothing new."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.intake import intake_steps
from flows.progress import progress
from flows.roundtrip import (
    harvest_feedback_task,
    publish_changes_artifact,
    publish_changes_task,
    publish_feedback_artifact,
)
from tasks.config import load_config
from tasks.merge import merge_sections, selected_paket
from tasks.normalise import workers
from tasks.publish import (
    build_manifest,
    draft_fingerprint,
    ensure_formats,
    new_version,
    publish,
    read_latest,
    read_manifest,
    render_draft,
    write_index,
)
from tasks.storage import DEFAULT_LINK_SECONDS, open_storage, scratch_dir

merge_sections_task = task(merge_sections, name="merge_sections", cache_policy=NONE)
render_draft_task = task(render_draft, name="render_draft", cache_policy=NONE)
publish_task = task(publish, name="publish", cache_policy=NONE)
write_index_task = task(write_index, name="write_index", cache_policy=NONE)


@flow(name="build_draft", task_runner=ThreadPoolTaskRunner(max_workers=workers()))
def build_draft(
    inbox: str = "inbox",
    out: str = "outputs",
    review: bool = True,
    formats: list[str] | None = None,
    packages: list[int] | None = None,
) -> dict:
    """Build and publish a draft from whatever has arrived in the inbox.

    Args:
        inbox: the inbox: a folder or s3://bucket/prefix.
        out: where outputs and drafts go: a folder or s3://bucket/prefix.
        review: run the Swedish language review on new reports.
        formats: draft formats to publish (docx, pdf, html); default from templates/settings.toml.
        packages: only these paket (1-5); default all.
    """
    config = load_config()
    formats = ensure_formats(list(formats or config.settings.formats))
    selected_paket(config, packages)  # fail early on an unknown paket
    inbox_store, out_store = open_storage(inbox), open_storage(out)
    with out_store.lock():
        feedback = harvest_feedback_task(inbox_store, out_store, config)  # before the tracker counts it
        result = intake_steps(inbox_store, out_store, config)
        chosen = {p.number for p in selected_paket(config, packages)}
        reports = [r for r in result.reports.values() if config.outline.pieces[r.piece].paket in chosen]
        pending: list[str] = []
        fingerprint = draft_fingerprint(reports, config, formats, packages, pending)
        latest = read_latest(out_store)
        if latest and latest["fingerprint"] == fingerprint:
            progress("Inget nytt sedan utkast %s; inget nytt utkast publiceras", latest["version"])
            write_index_task(out_store, config, config.settings.link_seconds)
            publish_feedback_artifact(out_store, feedback, config.settings.link_seconds)
            return summary(out_store, latest, published=False, converted=result.converted, tracker=result.tracker,
                           link_seconds=config.settings.link_seconds)
        progress("Slår ihop %d delrapporter i %d paket", len(reports), len(chosen))
        sections = merge_sections_task(out_store, reports, config, packages)
        created = time.time()
        version = new_version(fingerprint, created)
        with scratch_dir("utkast-render-") as tmp:
            progress("Skapar utkast %s (%s)", version, ", ".join(formats))
            rendered = render_draft_task(out_store, sections, reports, config, version, created,
                                         formats, Path(tmp), packages, pending)
            previous = read_manifest(out_store, latest["version"]) if latest else None
            manifest = build_manifest(rendered, fingerprint, result.files, reports, config, previous,
                                      {"formats": formats, "packages": packages, "review": review})
            changes = publish_changes_task(out_store, config, rendered, manifest, previous)
            latest = publish_task(out_store, rendered, manifest)
        write_index_task(out_store, config, config.settings.link_seconds)
    publish_changes_artifact(out_store, changes, config.settings.link_seconds)
    publish_feedback_artifact(out_store, feedback, config.settings.link_seconds)
    for fmt, problem in rendered.problems.items():
        progress("Varning: %s", problem)
    progress("Utkast %s publicerat", version)
    return summary(out_store, latest, published=True, converted=result.converted, tracker=result.tracker,
                   link_seconds=config.settings.link_seconds)


def summary(out, latest: dict, *, published: bool, converted: int, tracker: dict,
            link_seconds: int = DEFAULT_LINK_SECONDS) -> dict:
    """What the command line prints and the flow returns (links: paths, or presigned URLs)."""
    return {
        "published": published,
        "version": latest["version"],
        "draft": {fmt: out.href(key, filename=f"utkast-{latest['version']}.{fmt}", expires=link_seconds)
                  for fmt, key in latest["formats"].items()},
        "index": out.href("drafts/index.html", expires=link_seconds),
        "status": out.href("status.html", expires=link_seconds),
        "changes": out.href(f"drafts/{latest['version']}/andringar.html", expires=link_seconds),
        "feedback": out.href("feedback/index.html", expires=link_seconds),
        "converted": converted,
        "counts": tracker["counts"],
        "missing": tracker["missing"],
    }
