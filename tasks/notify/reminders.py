"""Due dates and reminders: which commissioned pieces a partner still owes, and which
reminder each is due on a given day.

A piece is due on its date in ``outline.toml`` (its own, else its paket's). A partner
commissioned for it that has not delivered it (no accepted report) gets one reminder
``[email] remind_days_before`` days before the date (any day from then until the date), and
one when it is late (any day after the date). Each is sent once: its message id is made
of the partner, the piece, the stage and the date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tasks.core.config import Config
from tasks.core.slots import slot_key


@dataclass(frozen=True)
class Reminder:
    partner: str
    piece: str
    due: date
    stage: str  # "before" | "late"


def reminders_due(config: Config, delivered: set[str], on: date) -> list[Reminder]:
    """The reminders due on the day ``on``: one per commissioned (partner, piece) that is not
    in ``delivered`` (slot keys of accepted reports), within ``remind_days_before`` days of its
    date ("before") or past it ("late"), in outline order."""
    ahead = config.settings.email.remind_days_before
    found = []
    for piece_id in config.outline.pieces:
        due = config.outline.due(piece_id)
        if due is None:
            continue
        if on > due:
            stage = "late"
        elif (due - on).days <= ahead:
            stage = "before"
        else:
            continue
        for partner in config.outline.commissioned(piece_id):
            if slot_key(partner, piece_id) not in delivered:
                found.append(Reminder(partner, piece_id, due, stage))
    return found
