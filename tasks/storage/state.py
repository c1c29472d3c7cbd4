"""The pipeline's memory between runs, kept with the outputs (``cache/state.json``).

It records what each inbox file was (size, change token, hash, screening verdict), which
normalised report came from which hash, what the personal-data scan and the language
review found, so unchanged work is never redone. It is only a cache: deleting it costs
one full run, never correctness. It is written after the outputs it describes, so a run
killed half-way leaves nothing that a later run trusts.

:class:`RunState` has one section per stage, and each stage is handed only its own
section: screening (:mod:`tasks.intake.inbox`), rejection notes, conversions
(:mod:`tasks.intake.normalise`), the personal-data scan (:mod:`tasks.personal.scan`) and
reviews (:mod:`tasks.review.plan`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tasks.storage.base import Storage

STATE_KEY = "cache/state.json"


@dataclass
class ScreeningMemory:
    """What each inbox file was when it was last screened."""

    fingerprint: str | None = None  # the screening settings and code the entries were made with
    files: dict[str, dict] = field(default_factory=dict)  # inbox key -> listing, hash, verdict


@dataclass
class ConversionMemory:
    """Normalised reports and the bytes pandoc could not read."""

    reports: dict[str, dict] = field(default_factory=dict)  # slot key -> Report.to_json()
    failed: dict[str, dict] = field(default_factory=dict)  # sha256 -> converter, code, detail
    media: list[str] = field(default_factory=list)  # image names under normalised/media/


@dataclass
class RunState:
    """The whole memory; see the module docstring for who owns which section."""

    screening: ScreeningMemory = field(default_factory=ScreeningMemory)
    notes: dict[str, str] = field(default_factory=dict)  # rejection note key -> digest of its text
    conversions: ConversionMemory = field(default_factory=ConversionMemory)
    personal: dict[str, dict] = field(default_factory=dict)  # slot key -> scan key, summary, title
    reviews: dict[str, dict] = field(default_factory=dict)  # slot key -> review key, sha256, summary

    @classmethod
    def from_json(cls, data: object) -> RunState:
        """The state from its stored form; anything unexpected is forgotten (it is a cache)."""
        if not isinstance(data, dict):
            return cls()

        def table(value) -> dict:
            return value if isinstance(value, dict) else {}

        inbox = table(data.get("inbox"))
        media = data.get("media")
        return cls(
            screening=ScreeningMemory(inbox.get("screen") if isinstance(inbox.get("screen"), str) else None,
                                      table(inbox.get("files"))),
            notes=table(data.get("notes")),
            conversions=ConversionMemory(table(data.get("reports")), table(data.get("failed")),
                                         [m for m in media if isinstance(m, str)] if isinstance(media, list) else []),
            personal=table(data.get("personal")),
            reviews=table(data.get("review")),
        )

    def to_json(self) -> dict:
        return {
            "inbox": {"screen": self.screening.fingerprint, "files": self.screening.files},
            "notes": self.notes,
            "reports": self.conversions.reports,
            "failed": self.conversions.failed,
            "media": sorted(self.conversions.media),
            "personal": self.personal,
            "review": self.reviews,
        }


def load_state(out: Storage) -> RunState:
    text = out.read_text(STATE_KEY)
    if not text:
        return RunState()
    try:
        return RunState.from_json(json.loads(text))
    except json.JSONDecodeError:
        return RunState()


def dump_state(state: RunState) -> bytes:
    """The stored form of ``state`` (stable: equal states give equal bytes)."""
    return json.dumps(state.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8")


def save_state(out: Storage, state: RunState, loaded: bytes | None = None) -> bool:
    """Write ``state`` unless it equals ``loaded`` (its stored form when the run began), so
    a run that learnt nothing writes nothing. Returns whether it wrote."""
    data = dump_state(state)
    if loaded is not None and data == loaded:
        return False
    out.write(STATE_KEY, data, "application/json")
    return True
