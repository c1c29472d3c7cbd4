"""The review round trip as Prefect tasks and artifacts: what changed since the last
draft, and reviewers' comments harvested back to their owners. Wiring only; the steps are
in tasks/roundtrip/changes.py and tasks/roundtrip/feedback.py."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from flows.policies import IO_TASK
from flows.progress import progress
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
