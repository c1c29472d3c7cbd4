"""A draft's identity (fingerprint, version) and its manifest."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from tasks import __version__
from tasks.core.config import CONFIG_FILES, Config
from tasks.core.slots import slot_key
from tasks.core.templating import STOCKHOLM, swedish_datetime
from tasks.core.versions import tool_versions
from tasks.draft.render import Rendered
from tasks.intake.inbox import InboxFile, shown_reason
from tasks.intake.normalise import Report, accessibility_summary
from tasks.personal.rules import masking_fingerprint


def templates_digest(config: Config) -> str:
    """Every file of ``templates/``; the configuration files by what shapes the draft
    (``config.fingerprint``: not addresses, due dates or reviewers)."""
    digest = hashlib.sha256(config.fingerprint.encode())
    for path in sorted(config.templates.iterdir()):
        if path.is_file() and path.name not in CONFIG_FILES:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def draft_fingerprint(reports: list[Report], config: Config, formats: list[str],
                      packages: list[int] | None, pending_reviews: list[str]) -> str:
    """Identity of a draft's content: a build with the same fingerprint publishes nothing new."""
    payload = {
        "reports": sorted([r.partner, r.piece, r.sha256, r.converter, r.version] for r in reports),
        "templates": templates_digest(config),
        "formats": list(formats),
        "packages": sorted(packages) if packages else None,
        "pending": sorted(pending_reviews),
        "utkast": __version__,
        "personal_data": masking_fingerprint(config),  # changed masking rules give a new draft
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def new_version(fingerprint: str, now: float) -> str:
    """Sortable and readable: ``20261127-030215-3f2a1c``."""
    return f"{datetime.fromtimestamp(now, STOCKHOLM):%Y%m%d-%H%M%S}-{fingerprint[:6]}"


# --- manifest and publishing ---------------------------------------------------------------


def compute_changes(previous: dict | None, reports: list[dict], inputs: list[dict]) -> dict:
    """What is new, updated, withdrawn and rejected since the previous draft's manifest.

    ``reports`` and ``inputs`` are the newer draft's manifest entries (``partner``,
    ``piece``, ``sha256``; ``key``, ``verdict``). Returns slot keys of reports and inbox keys
    of files rejected since. The one computation of "what changed" between drafts: the
    manifest stores it, the changes page groups it per paket
    (:func:`tasks.roundtrip.compare.changelog`)."""
    now = {slot_key(r["partner"], r["piece"]): r for r in reports}
    before = {slot_key(r["partner"], r["piece"]): r for r in (previous or {}).get("reports", [])}
    prev_rejected = {i["key"] for i in (previous or {}).get("inputs", []) if i["verdict"] == "rejected"}
    return {
        "previous": (previous or {}).get("version"),
        "new": sorted(k for k in now if k not in before),
        "updated": sorted(k for k in now if k in before and before[k]["sha256"] != now[k]["sha256"]),
        "withdrawn": sorted(k for k in before if k not in now),
        "rejected": sorted(i["key"] for i in inputs if i["verdict"] == "rejected" and i["key"] not in prev_rejected),
    }


def build_manifest(rendered: Rendered, fingerprint: str, files: list[InboxFile], reports: list[Report],
                   config: Config, previous: dict | None, options: dict,
                   reviews: dict[str, dict] | None = None, pending_reviews: list[str] = (),
                   personal: dict[str, dict] | None = None, shown: dict[str, str] | None = None) -> dict:
    """The draft's manifest: inputs and their verdicts, reports (with review and personal
    data summaries: kinds and counts, never values), what is missing, what changed since
    ``previous``, the tools that made it. File names as ``shown`` gives them (inbox key ->
    the key with personal data masked; default: as they are)."""
    reviews, personal, shown = reviews or {}, personal or {}, shown or {}
    base = f"drafts/{rendered.version}/"
    inputs = [{
        "key": shown.get(f.key, f.key), "partner": f.partner, "piece": f.piece, "sha256": f.sha256, "size": f.size,
        "modified": datetime.fromtimestamp(f.modified, STOCKHOLM).isoformat(timespec="seconds"),
        "kind": f.kind, "verdict": f.verdict, "version": f.version, "reason": shown_reason(f, shown.get(f.key)),
    } for f in files]
    entries = [{
        "partner": r.partner, "piece": r.piece, "title": r.title, "words": r.words,
        "sha256": r.sha256, "source": shown.get(r.source, r.source), "version": r.version,
        "earlier_versions": [shown.get(k, k) for k in r.earlier_versions], "warnings": r.warnings,
        "review": reviews.get(slot_key(r.partner, r.piece)),
        "personal_data": personal.get(slot_key(r.partner, r.piece)),
        "accessibility": accessibility_summary(r),
    } for r in sorted(reports, key=lambda r: (r.piece, r.partner))]
    return {
        "version": rendered.version,
        "created": datetime.fromtimestamp(rendered.created, STOCKHOLM).isoformat(timespec="seconds"),
        "created_sv": swedish_datetime(rendered.created),
        "fingerprint": fingerprint,
        "masking": masking_fingerprint(config),  # the rules its text was masked by
        "title": config.outline.title,
        "project": config.outline.project,
        "formats": {fmt: f"{base}utkast.{fmt}" for fmt in rendered.files},
        "problems": rendered.problems,
        "options": options,
        "inputs": inputs,
        "reports": entries,
        "missing": [p.id for p in config.outline.pieces.values()
                    if not any(r.piece == p.id for r in reports)],
        "changes": compute_changes(previous, entries, inputs),
        "tools": tool_versions(),
        "pending_reviews": list(pending_reviews),
        # Images shown with a placeholder description, headings moved up a level (docs/accessibility.md).
        "accessibility": {"images_without_alt": sum(len(r.missing_alt) for r in reports),
                          "heading_skips": sum(len(r.heading_skips) for r in reports),
                          "pdf_standard": "PDF/UA-1" if "pdf" in rendered.files else None},
    }
