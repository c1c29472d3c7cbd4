"""The intake flow: list the inbox, screen, convert (one task per batch of documents,
batches side by side), record verdicts, rejection notes and the tracker."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.progress import progress
from tasks.config import Config, load_config
from tasks.feedback import open_review_counts
from tasks.intake import InboxFile, rejection_key, rejection_text, scan_inbox
from tasks.normalise import (
    Report,
    apply_conversions,
    convert_files,
    pending_conversions,
    plan_conversions,
    workers,
)
from tasks.state import dump_state, load_state, save_state
from tasks.storage import Storage, open_storage
from tasks.tracker import build_tracker, write_tracker

scan_inbox_task = task(scan_inbox, name="scan_inbox", cache_policy=NONE)
write_tracker_task = task(write_tracker, name="write_tracker", cache_policy=NONE)


@task(name="convert_files", cache_policy=NONE)
def convert_files_task(inbox: Storage, files: list[InboxFile], config: Config):
    return convert_files(inbox, files, config, parallel=1)


@dataclass
class IntakeResult:
    files: list[InboxFile]
    reports: dict[str, Report]
    converted: int = 0
    tracker: dict = field(default_factory=dict)


def write_rejections(out: Storage, files: list[InboxFile], config: Config, state: dict) -> int:
    """Write a Swedish note per rejected file; remove notes for files no longer rejected."""
    notes = state.setdefault("notes", {})
    wanted = {}
    for f in files:
        if f.verdict == "rejected":
            wanted[rejection_key(f)] = rejection_text(f, config)
    written = 0
    for key, text in wanted.items():
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        if notes.get(key) != digest:
            out.write(key, text.encode("utf-8"), "text/plain; charset=utf-8")
            notes[key] = digest
            written += 1
    for key in list(notes):
        if key not in wanted:
            out.delete(key)
            del notes[key]
    return written


def intake_steps(inbox: Storage, out: Storage, config: Config) -> IntakeResult:
    """The intake as a sequence of tasks (used by both flows)."""
    state = load_state(out)
    loaded = dump_state(state)
    files = scan_inbox_task(inbox, config, state.setdefault("inbox", {}))
    rejected = sum(f.verdict == "rejected" for f in files)
    progress("Inkorgen: %d filer, %d godtagna, %d avvisade", len(files),
             sum(f.verdict == "accepted" for f in files), rejected)
    todo, reports = plan_conversions(files, state)
    converted = 0
    while todo:
        need = pending_conversions(todo, state)
        results = {}
        if need:
            progress("Konverterar %d dokument", len(need))
            size = math.ceil(len(need) / workers())
            batches = [need[i:i + size] for i in range(0, len(need), size)]
            futures = [convert_files_task.submit(inbox, batch, config) for batch in batches]
            for fut in futures:
                results.update(fut.result())
            converted += len(need)
        todo = apply_conversions(out, files, todo, results, state, config, reports)
    write_rejections(out, files, config, state)
    save_state(out, state, loaded)
    tracker = build_tracker(files, reports, config, feedback_open=open_review_counts(out))
    write_tracker_task(out, tracker, config)
    return IntakeResult(files, reports, converted, tracker)


@flow(name="intake", task_runner=ThreadPoolTaskRunner(max_workers=workers()))
def intake(inbox: str = "inbox", out: str = "outputs", review: bool = True) -> dict:
    """Normalise (and review) everything new in the inbox; write rejections and the tracker.

    Args:
        inbox: the inbox: a folder or s3://bucket/prefix.
        out: where outputs go: a folder or s3://bucket/prefix.
        review: run the Swedish language review on new reports.
    """
    config = load_config()
    inbox_store, out_store = open_storage(inbox), open_storage(out)
    with out_store.lock():
        result = intake_steps(inbox_store, out_store, config)
    progress("Klart: %d konverterade, %d delrapporter inne", result.converted, len(result.reports))
    return {"converted": result.converted, "reports": len(result.reports),
            "rejected": result.tracker["counts"]["rejected"], "status": out_store.href("status.html")}
