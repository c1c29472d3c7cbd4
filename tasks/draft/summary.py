"""What a run came to, as plain data: what ``utkast`` prints, the flow returns and the Prefect
artifacts show (``flows/artifacts.py``), and what a build's stamp keeps for "nothing new".

:func:`run_summary` makes all three shapes: an intake, a build (a new draft, or the latest
one again), and a build stopped by personal data (``[personal_data] action = "stop"``).
Links are paths or presigned URLs that expire, never credentials; personal data appears as
kinds, counts and places, never as values.
"""

from __future__ import annotations

from tasks.core.config import Config
from tasks.core.slots import Slot, slot_key, slot_label
from tasks.draft.catalogue import changes_key
from tasks.intake.tracker import readability_rows, tracker_table
from tasks.personal.scan import counts_phrase
from tasks.storage.base import DEFAULT_LINK_SECONDS, Storage

STATE_LABEL = {"new": "ny", "updated": "uppdaterad", "withdrawn": "tillbakadragen"}


def run_summary(out: Storage, config: Config, tracker: dict, *, converted: int, latest: dict | None = None,
                published: bool = False, stopped: bool = False, changes: dict | None = None, pending=(),
                personal: dict[str, dict] | None = None, email=None, reports: int = 0, reused: int = 0) -> dict:
    """The summary of a run.

    An intake gives neither ``latest`` nor ``stopped``; a build gives ``latest`` (the draft it
    published, ``published=True`` with its ``changes``, or the latest one again), a stopped
    build ``stopped=True``. ``pending``: labels of reports whose language review is pending;
    ``personal``: slot key -> personal data found; ``email``: what the run's e-mail came to
    (a :class:`tasks.notify.outbox.Delivery`, or None when e-mail was never on).
    """
    links = config.settings.link_seconds
    common = {
        "status": out.href("status.html", expires=links),
        "converted": converted,
        "counts": tracker["counts"],
        "missing": tracker["missing"],
        "tracker": tracker_table(tracker),
        "rejected_files": rejected_files(tracker),
        "reviews": review_links(out, tracker, links),
        "personal": personal_entries(personal or {}, tracker),
        **email_summary(email),
    }
    if stopped:
        return {"published": False, "stopped": True, "index": out.href("drafts/index.html", expires=links),
                **common, "personal_action": "stop"}
    if latest is None:
        return {**common, "reports": reports, "rejected": tracker["counts"]["rejected"], "reused": reused,
                "pending_reviews": sorted(pending), "personal_action": config.settings.personal_action}
    version = latest["version"]
    return {
        "published": published,
        "version": version,
        "draft": {fmt: out.href(key, filename=f"utkast-{version}.{fmt}", expires=links)
                  for fmt, key in latest["formats"].items()},
        "index": out.href("drafts/index.html", expires=links),
        "changes_page": out.href(changes_key(version, "html"), expires=links),
        "feedback_page": out.href("feedback/index.html", expires=links),
        **common,
        "changes": change_labels(changes, partner_names(tracker)),
        "pending_reviews": sorted(pending),
        # A build that goes on past personal data masks it: action "mask", or none in the chosen paket.
        "personal_action": "mask",
        "readability": readability_rows(tracker),
    }


def partner_names(tracker: dict) -> dict[str, str]:
    return {p["slug"]: p["short"] for p in tracker["partners"]}


def change_labels(changes: dict | None, names: dict[str, str]) -> dict | None:
    """A manifest's ``changes`` with slots as readable labels (None when nothing was published)."""
    if changes is None:
        return None
    return {"previous": changes.get("previous"),
            **{kind: [slot_label(s, names) for s in changes.get(kind, [])] for kind in STATE_LABEL}}


def rejected_files(tracker: dict) -> list[dict]:
    """Each rejected file with its reason (Swedish, as the partner reads it)."""
    return [{"file": r["key"], "reason": r["reason"]} for r in tracker["rejected"]]


def personal_entries(personal: dict[str, dict], tracker: dict) -> list[dict]:
    """Each report with personal data: its label, kinds with counts and places (never the
    values themselves), in outline order."""

    names = partner_names(tracker)
    return [{"label": slot_label(slot, names), "counts": counts_phrase(summary), "places": summary["places"]}
            for slot, summary in sorted(personal.items(), key=lambda kv: Slot.parse(kv[0]).outline_order())]


def review_links(out: Storage, tracker: dict, expires: int = DEFAULT_LINK_SECONDS) -> list[dict]:
    """Links to the readable review report of each report in the tracker that has one
    (``review/<partner>/<piece>.html``; one listing of ``review/``)."""
    present = {e.key for e in out.list("review/") if e.key.endswith(".html")}
    names = partner_names(tracker)
    links = []
    for key, cell in sorted(tracker["cells"].items(), key=lambda kv: (kv[1]["piece"], kv[0])):
        report = f"review/{cell['partner']}/{cell['piece']}.html"
        if report in present:
            links.append({"label": slot_label(slot_key(cell["partner"], cell["piece"]), names),
                          "href": out.href(report, expires=expires)})
    return links


def email_summary(delivery) -> dict:
    """The run's e-mail (a :class:`tasks.notify.outbox.Delivery` or None) for the summary:
    counts, and one line in English and in Swedish."""
    if delivery is None:
        return {}
    return {"email": delivery.to_json(), "email_line": delivery.line(), "email_sv": delivery.line_sv()}
