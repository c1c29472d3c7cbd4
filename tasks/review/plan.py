"""Which reports a run reviews, which reviews it reuses, and what it forgets.

A review is reused while its key (content, engine, settings: :func:`tasks.review.run.review_key`)
is unchanged. A saved review about an older text is forgotten (its outputs deleted) when
the report changed but is not reviewed in this run, and when the report is withdrawn.

Each review is also kept as soon as it is done (:func:`keep_review`, ``cache/reviewed/<slot>.json``,
written after its outputs and removed before they are written again), so a run killed in the
middle of a batch leaves its finished reviews to the next run (:func:`kept_reviews`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from tasks.core.slots import Slot
from tasks.intake.normalise import Report
from tasks.review.report import review_keys
from tasks.storage.base import Storage, read_present

KEPT = "cache/reviewed"


@dataclass
class ReviewPlan:
    reuse: dict[str, dict] = field(default_factory=dict)  # slot key -> saved summary
    todo: list[tuple[str, Report, str]] = field(default_factory=list)  # (slot key, report, review key)
    forget: list[str] = field(default_factory=list)  # slot keys whose saved review is stale

    @property
    def words(self) -> int:
        return sum(report.words for _, report, _ in self.todo)


@dataclass
class ReviewOutcome:
    """The reviews of a run: a summary per report (or a pending one), and what is pending."""

    summaries: dict[str, dict] = field(default_factory=dict)  # slot key -> summary (or pending)
    pending: dict[str, str] = field(default_factory=dict)  # slot key -> label for the draft
    reviewed: int = 0
    handed_over: int = 0  # left for the next run because new files arrived


def plan_reviews(reports: dict[str, Report], saved: dict[str, dict], key_of: Callable[[Report], str],
                 enabled: bool = True) -> ReviewPlan:
    """Decide per report: reuse its saved review, review it (``enabled``), or forget a
    saved review that no longer fits. ``saved`` is the run state's reviews section."""
    plan = ReviewPlan()
    for slot, report in sorted(reports.items()):
        key = key_of(report)
        prior = saved.get(slot)
        if prior and prior.get("key") == key:
            plan.reuse[slot] = prior["summary"]
        elif enabled:
            plan.todo.append((slot, report, key))
        elif prior and prior.get("sha256") != report.sha256:
            plan.forget.append(slot)  # about an older version of the text
    plan.forget += [slot for slot in saved if slot not in reports]  # withdrawn reports
    return plan


def forget_review(out: Storage, saved: dict[str, dict], slot: str) -> None:
    """Delete a report's review outputs and its saved review."""
    unkeep_review(out, slot)
    for key in review_keys(*Slot.parse(slot)).values():
        out.delete(key)
    saved.pop(slot, None)


def kept_key(slot: str) -> str:
    return f"{KEPT}/{slot}.json"


def unkeep_review(out: Storage, slot: str) -> None:
    """Before a report's review outputs are written again: what is kept no longer describes them."""
    out.delete(kept_key(slot))


def keep_review(out: Storage, slot: str, key: str, report: Report, summary: dict) -> None:
    """Keep a finished review (after its outputs are written); a pending one is not kept."""
    if not summary.get("pending"):
        record = {"key": key, "sha256": report.sha256, "summary": summary}
        out.write(kept_key(slot), json.dumps(record, ensure_ascii=False).encode("utf-8"), "application/json")


def kept_reviews(out: Storage, todo: list[tuple[str, Report, str]]) -> dict[str, dict]:
    """The summaries of the reviews in ``todo`` (slot, report, review key) that an earlier run
    finished and kept but did not record, by slot."""
    found = {}
    for (slot, report, key), data in zip(todo, read_present(out, [kept_key(slot) for slot, _, _ in todo])):
        try:
            record = json.loads(data) if data else None
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("key") == key and record.get("sha256") == report.sha256:
            found[slot] = record["summary"]
    return found


def record_review(out: Storage, saved: dict[str, dict], slot: str, report: Report, key: str,
                  summary: dict) -> bool:
    """Remember a finished review; for a pending one, forget a saved review of another
    text. Returns whether the review is pending."""
    if summary.get("pending"):
        if saved.get(slot, {}).get("sha256") != report.sha256:
            forget_review(out, saved, slot)
        return True
    saved[slot] = {"key": key, "sha256": report.sha256, "summary": summary}
    return False
