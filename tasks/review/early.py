"""What a report goes through as soon as pandoc has converted it, in its conversion batch
(while pandoc goes on with the next files): the personal-data scan and what it contributes to
the draft's language page. Later steps find both done (:func:`tasks.personal.scan.scan_reports`
takes the scans as ``early``; :mod:`tasks.review.sprak` reads what was noted)."""

from __future__ import annotations

from typing import Callable

from tasks.core.config import Config
from tasks.core.slots import slot_key
from tasks.intake.inbox import InboxFile
from tasks.intake.normalise import Converted, Outcome, earlier_versions, make_report
from tasks.personal.rules import PersonalRules
from tasks.personal.scan import scan_report
from tasks.review.sprak import note_report
from tasks.review.variants import load_terms
from tasks.storage.base import Storage


def after_conversion(out: Storage, files: list[InboxFile], config: Config, rules: PersonalRules,
                     early: dict[str, dict]) -> Callable[[str, Outcome], None]:
    """The ``on_result`` of :func:`tasks.intake.normalise.convert_and_keep` for ``files``: each
    freshly converted report is scanned for personal data (its record goes into ``early``, by
    slot) and its masked text noted for the language page."""
    by_key, earlier, terms = {f.key: f for f in files}, earlier_versions(files), load_terms(config.templates)

    def after(key: str, outcome: Outcome) -> None:
        if not isinstance(outcome, Converted) or outcome.kept:
            return
        f = by_key[key]
        report = make_report(f, outcome, config, earlier.get(slot_key(*f.slot), []))
        early[slot_key(*f.slot)], masked_key, ast = scan_report(out, report, rules, outcome.ast)
        note_report(out, masked_key, ast, terms)

    return after
