"""The review round trip as Prefect tasks and artifacts: what changed since the last
draft, and reviewers' comments harvested back to their owners, in every build and, as soon
as a reviewer uploads a file, in the flow :func:`harvest_comments` (deployment
``comments-harvest``, started by the portal's ``inbox.file.arrived`` event for
``utkast.inbox.feedback``). Wiring only; the steps are in tasks/roundtrip/changes.py and
tasks/roundtrip/feedback.py, the e-mail in tasks/notify/run.py."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from flows.notify import after_harvest_task, link_maker, notify_failed_run, say_delivery
from flows.policies import IO_TASK
from flows.progress import progress
from flows.recovery import refuse_endless_restarts
from flows.storage import open_storage
from tasks.core.config import load_config
from tasks.review.settings import check_templates
from tasks.roundtrip.changes import changes_markdown, publish_changes
from tasks.roundtrip.feedback import harvest_feedback
from tasks.roundtrip.points import feedback_markdown
from tasks.storage.base import DEFAULT_LINK_SECONDS, Storage

harvest_feedback_task = task(harvest_feedback, name="harvest_feedback", cache_policy=NONE, **IO_TASK)
publish_changes_task = task(publish_changes, name="publish_changes", cache_policy=NONE, **IO_TASK)


def publish_changes_artifact(out: Storage, changes: dict, link_seconds: int = DEFAULT_LINK_SECONDS) -> None:
    """The changes since the last draft, in the Prefect UI."""
    for problem in changes.get("problems", {}).values():
        progress("Varning: %s", problem)
    links = {fmt: out.href(key, expires=link_seconds) for fmt, key in changes["files"].items() if fmt != "json"}
    create_markdown_artifact(markdown=changes_markdown(changes, links), key="andringar-sedan-forra-utkastet",
                             description=f"Ändringar i utkast {changes['to']} sedan föregående utkast")


def publish_feedback_artifact(out: Storage, feedback: dict, link_seconds: int = DEFAULT_LINK_SECONDS) -> None:
    """The open review points, in the Prefect UI (and problems with the status file in the log)."""
    c = feedback["counts"]
    if c["files"]:
        progress("Synpunkter: %d filer (%d avvisade), %d öppna punkter av %d", c["files"], c["rejected"],
                 c["open"], c["points"])
    for problem in feedback["status_problems"]:
        progress("Varning: %s", problem)
    page = out.href("feedback/index.html", expires=link_seconds)
    markdown = feedback_markdown(feedback) + f"\nSidan med alla punkter: {page}\n"
    create_markdown_artifact(markdown=markdown, key="oppna-granskningspunkter",
                             description="Granskarnas öppna punkter per partner och paket")


@flow(name="harvest_comments", on_failure=[notify_failed_run], on_crashed=[notify_failed_run])
def harvest_comments(inbox: str = "inbox", out: str = "outputs", templates: str | None = None) -> dict:
    """Read the reviewers' returned files now (not at the next build): their comments and
    changes go to the partners whose text they touch, on their pages and by e-mail (one
    message per partner with new comments).

    Args:
        inbox: The inbox (reviewers' files under feedback/<reviewer>/): a folder or s3://bucket/prefix.
        out: Where outputs go: a folder or s3://bucket/prefix.
        templates: The configuration folder; empty means templates/ of the utkast checkout.
    """
    refuse_endless_restarts()
    config = load_config(templates)
    check_templates(config)
    inbox_store, out_store = open_storage(inbox), open_storage(out)
    with out_store.lock():
        feedback = harvest_feedback_task(inbox_store, out_store, config)
        email = after_harvest_task(out_store, config, feedback, link_maker(out_store, config))
    say_delivery(email)
    publish_feedback_artifact(out_store, feedback, config.settings.link_seconds)
    return {"counts": feedback["counts"], "email": email.to_json() if email else None}
