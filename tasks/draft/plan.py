"""The build's plan: which reports go into the draft, and whether it is published, left
as it is (nothing changed since the latest draft) or stopped (personal data with
``[personal_data] action = "stop"``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tasks.core.config import Config
from tasks.core.slots import Slot, in_outline_order
from tasks.draft.manifest import draft_fingerprint
from tasks.draft.merge import selected_paket
from tasks.intake.normalise import Report

Action = Literal["publish", "unchanged", "stop"]


@dataclass
class BuildPlan:
    action: Action
    reports: list[Report]  # the reports of the chosen paket
    fingerprint: str  # identity of the draft these reports make
    pending: list[str] = field(default_factory=list)  # labels of reports whose review is pending
    personal: dict[str, dict] = field(default_factory=dict)  # slot key -> personal data found
    chosen: list[int] = field(default_factory=list)  # paket numbers in the draft

    def stop_labels(self, config: Config) -> list[str]:
        """``4.2 Verdandi`` for each report that stops the build, in outline order."""
        names = {p.slug: p.short for p in config.registry.partners}
        return [Slot.parse(key).label(names) for key in in_outline_order(self.personal)]


def in_paket(slot: str, config: Config, chosen: set[int]) -> bool:
    return config.outline.pieces[Slot.parse(slot).piece].paket in chosen


def plan_build(config: Config, reports: dict[str, Report], pending_reviews: dict[str, str],
               personal: dict[str, dict], formats: list[str], packages: list[int] | None,
               latest: dict | None) -> BuildPlan:
    """Decide what a build does with the intake's ``reports`` (slot key -> report), their
    pending reviews (slot key -> label) and personal data (slot key -> summary), given
    the chosen ``packages`` (None: all) and the ``latest`` published draft."""
    chosen = {p.number for p in selected_paket(config, packages)}
    mine = [r for slot, r in sorted(reports.items()) if in_paket(slot, config, chosen)]
    pending = sorted(label for slot, label in pending_reviews.items() if in_paket(slot, config, chosen))
    found = {slot: summary for slot, summary in personal.items() if in_paket(slot, config, chosen)}
    fingerprint = draft_fingerprint(mine, config, formats, packages, pending)
    if found and config.settings.personal_action == "stop":
        action: Action = "stop"
    elif latest and latest.get("fingerprint") == fingerprint:
        action = "unchanged"
    else:
        action = "publish"
    return BuildPlan(action, mine, fingerprint, pending, found, sorted(chosen))
