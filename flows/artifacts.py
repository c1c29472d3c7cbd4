"""What the coordinator sees in the Prefect UI: artifacts of each intake and build.

- ``utkast-tracker``: the tracker (piece × partner) as a table;
- a progress bar while documents are converted and the draft is made;
- links: the draft in each format, the reviewers' page, the tracker page, each review report
  (local outputs give ``file://`` links, outputs on S3 presigned links);
- ``utkast-summary`` / ``utkast-intake-summary``: a short Markdown text: what is new since the
  last draft, which files were rejected and why, what is missing, which reports hold personal
  data (kinds, counts and places only).

:func:`artifact_content` turns a run's summary (:func:`tasks.draft.summary.run_summary`) into
that content (plain data, tested without Prefect); :func:`publish_artifacts` creates the
artifacts. Nothing secret goes in: links are file paths or presigned URLs that expire, never
credentials.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from tasks.core.formats import draft_label
from tasks.core.templating import md_escape
from tasks.draft.summary import STATE_LABEL


def link_url(href: str) -> str:
    """A link a browser can take: presigned/http URLs as they are, local paths as file:// URLs."""
    if href.startswith(("http://", "https://", "file://")):
        return href
    return Path(href).resolve().as_uri()


def artifact_content(summary: dict) -> dict:
    """The artifacts of a flow run from its summary dict.

    Returns ``{"table": [...rows as dicts], "links": [{"key", "url", "text"}], "markdown": str}``.
    A build summary has ``version``, ``draft``, ``index`` and ``changes``; an intake summary
    only the tracker, counts, rejections and reviews.
    """
    header, *rows = summary["tracker"]
    table = [dict(zip(header, row)) for row in rows]
    links = []
    for fmt, href in (summary.get("draft") or {}).items():
        links.append({"key": f"utkast-draft-{fmt}", "url": link_url(href),
                      "text": f"Utkast {summary['version']} ({draft_label(fmt)})"})
    if summary.get("index"):
        links.append({"key": "utkast-reviewers-page", "url": link_url(summary["index"]),
                      "text": "Granskarsidan: alla utkast"})
    links.append({"key": "utkast-status-page", "url": link_url(summary["status"]),
                  "text": "Översikten: vem har lämnat vad"})
    if summary.get("changes_page"):
        links.append({"key": "utkast-changes-page", "url": link_url(summary["changes_page"]),
                      "text": "Ändringar sedan förra utkastet (med ändringsmarkeringar)"})
    if summary.get("feedback_page"):
        links.append({"key": "utkast-feedback-page", "url": link_url(summary["feedback_page"]),
                      "text": "Granskarnas synpunkter per partner och paket"})
    for review in summary.get("reviews", []):
        links.append({"key": None, "url": link_url(review["href"]),
                      "text": f"Språkgranskning {review['label']}"})
    return {"table": table, "links": links, "markdown": summary_markdown(summary, links)}


def summary_markdown(summary: dict, links: list[dict]) -> str:
    """The short text of the run, in Swedish (partner-supplied names are escaped)."""
    counts = summary["counts"]
    lines = []
    if summary.get("stopped"):
        lines.append("# Inget utkast publicerat: personuppgifter i delrapporter")
    elif "version" in summary:
        if summary["published"]:
            lines.append(f"# Utkast {summary['version']} publicerat")
        else:
            lines.append(f"# Inget nytt utkast: innehållet är detsamma som i utkast {summary['version']}")
    else:
        lines.append("# Inläsning av inkorgen")
    lines.append("")
    lines.append(f"**{counts['pieces_received']} av {counts['pieces_total']} delrapporter har kommit in.** "
                 f"Rapporter som används: {counts['accepted']}. Avvisade filer: {counts['rejected']}. "
                 f"Konverterade i den här körningen: {summary['converted']}.")
    changes = summary.get("changes")
    if changes is not None:
        previous = changes.get("previous")
        lines += ["", f"## Nytt sedan förra utkastet ({previous})" if previous else "## Det första utkastet", ""]
        items = [f"- {md_escape(label)} ({STATE_LABEL[kind]})"
                 for kind in STATE_LABEL for label in changes.get(kind, [])]
        lines += items or ["- inga ändrade rapporter (mallar eller val har ändrats)"]
    if summary.get("rejected_files"):
        lines += ["", "## Avvisade filer", ""]
        lines += [f"- {md_escape(r['file'])}: {md_escape(r['reason'] or '')}" for r in summary["rejected_files"]]
    if summary.get("missing"):
        lines += ["", "## Saknas", "", ", ".join(summary["missing"])]
    if summary.get("pending_reviews"):
        lines += ["", "## Språkgranskning väntar", "",
                  "Granskningen kunde inte köras (granskningsverktyget var inte tillgängligt) för: "
                  + md_escape(", ".join(summary["pending_reviews"])) + ". Nästa körning granskar dem."]
    if summary.get("personal"):
        lines += ["", "## Personuppgifter", ""]
        if summary.get("stopped") or summary.get("personal_action") == "stop":
            lines.append("Inget nytt utkast publiceras så länge de här rapporterna innehåller personuppgifter "
                         "(inställningen `[personal_data] action = \"stop\"` i `templates/settings.toml`).")
        else:
            lines.append("Maskeras i utkastet: de står inte i utkastet, sektionerna eller på granskarsidan. "
                         "Partnern ser i sin granskningsrapport vad som hittades och var.")
        lines.append("")
        lines += [f"- {md_escape(p['label'])}: {md_escape(p['counts'])} ({md_escape('; '.join(p['places']))})"
                  for p in summary["personal"]]
    if summary.get("email_sv"):
        lines += ["", "## E-post", "", md_escape(summary["email_sv"])]
    lines += ["", "## Länkar", ""]
    lines += [f"- [{md_escape(link['text'])}]({link['url']})" for link in links]
    return "\n".join(lines) + "\n"


def publish_artifacts(summary: dict) -> None:
    """Create the table, link and Markdown artifacts of this run."""
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    content = artifact_content(summary)
    create_table_artifact(content["table"], key="utkast-tracker",
                          description="Översikten: delrapport × partner")
    publish_readability_artifact(summary.get("readability") or [])
    for link in content["links"]:
        create_link_artifact(link["url"], link_text=link["text"], key=link["key"], description=link["text"])
    create_markdown_artifact(content["markdown"], key="utkast-summary" if "version" in summary else "utkast-intake-summary",
                             description="Sammanfattning av körningen")


def publish_readability_artifact(rows: list[dict]) -> None:
    """The readability of each reviewed report as a table (``utkast-lasbarhet``): LIX and its
    reading, words per sentence, share of passive verbs, long sentences
    (:func:`tasks.intake.tracker.readability_rows`)."""
    if not rows:
        return
    from prefect.artifacts import create_table_artifact

    create_table_artifact(rows, key="utkast-lasbarhet", description="Läsbarhet (klarspråk) per delrapport")


class RunProgress:
    """A progress artifact of the current run, 0-100 %, that any thread may move forward.

    Updates are sent only when the bar moves by at least ``step`` percent, so a run with
    hundreds of documents makes a handful of API calls, not hundreds.
    """

    def __init__(self, description: str, step: float = 5.0):
        from prefect.artifacts import create_progress_artifact

        self.step, self.sent, self.lock = step, 0.0, threading.Lock()
        self.id = create_progress_artifact(0.0, description=description)

    def set(self, percent: float) -> None:
        from prefect.artifacts import update_progress_artifact

        percent = max(0.0, min(100.0, percent))
        with self.lock:
            if percent < self.sent + self.step and not (percent == 100.0 and self.sent < 100.0):
                return
            self.sent = percent
        update_progress_artifact(self.id, percent)

    def counter(self, total: int, start: float, end: float) -> "ProgressCounter":
        return ProgressCounter(self, total, start, end)


class ProgressCounter:
    """Adds up ``on_progress(done, total)`` reports of several batches into one bar range."""

    def __init__(self, bar: RunProgress, total: int, start: float, end: float):
        self.bar, self.total, self.start, self.end = bar, max(total, 1), start, end
        self.done: dict[int, int] = {}
        self.lock = threading.Lock()

    def batch(self, index: int) -> Callable[[int, int], None]:
        def on_progress(done: int, _total: int) -> None:
            with self.lock:
                self.done[index] = done
                finished = sum(self.done.values())
            self.bar.set(self.start + (self.end - self.start) * finished / self.total)
        return on_progress
