"""What a run sends, and when: the three moments the flows call.

- :func:`after_intake`: receipts for files that got their verdict, "language review
  ready", reminders of commissioned pieces not delivered, reviewers' new comments on their
  text (to each partner, about its own files, pieces and text only; one message per partner);
- :func:`after_harvest`: reviewers' new comments, one message per partner whose text got any;
- :func:`after_build`: the latest draft to each reviewer, once per draft (from
  ``[schedule] review_from`` on);
- :func:`after_failure`: a failed or crashed run to the coordinator.

Each builds its messages, lets the outbox (:mod:`tasks.notify.outbox`) drop those already
recorded, and sends what is new or still waiting through :mod:`tasks.notify.smtp`. Nothing
here raises for the mail server: a server that is away leaves the messages waiting.

E-mail is *on* when ``[email] enabled`` and a server is known (``[email] server`` or
``UTKAST_SMTP_URL``). The first run with e-mail on begins the outbox; messages about files
the pipeline had already seen before that run are its baseline and never sent (no flood of
receipts for old files). Switched off later (``enabled = false``), new messages are recorded
as skipped, so switching on again sends none of them.
"""

from __future__ import annotations

import os
import time
from datetime import date
from typing import Callable

from tasks.core.config import Config, EmailSettings, People
from tasks.core.formats import draft_label
from tasks.core.slots import slot_key
from tasks.core.templating import swedish_datetime
from tasks.draft.catalogue import changes_key, read_latest, read_manifest
from tasks.intake.inbox import InboxFile
from tasks.intake.normalise import Report, over_length
from tasks.notify.messages import (
    Contact,
    Message,
    accepted_receipt,
    bundle,
    comments_arrived,
    failed_run,
    message_id,
    new_draft,
    rejected_receipt,
    reminder,
    review_ready,
    without_secrets,
)
from tasks.notify.outbox import Delivery, Outbox
from tasks.notify.reminders import reminders_due
from tasks.notify.smtp import Mailer, SendProblem, SmtpTarget, smtp_target
from tasks.personal.filenames import mask_in_text
from tasks.personal.rules import PersonalRules
from tasks.personal.scan import counts_phrase
from tasks.roundtrip.compare import changelog
from tasks.storage.base import Storage

# link_for(kind, who): the person's own page ("partner", slug / "reviewer", name), or None.
LinkFor = Callable[[str, str], "str | None"]
NO_SERVER = "no SMTP server is set ([email] server in templates/settings.toml or UTKAST_SMTP_URL)"
TRANSIENT = {"changed_during_run"}  # rejected for this run only: read again next run, no receipt


def _no_link(kind: str, who: str) -> None:
    return None


def mail_switch(email: EmailSettings, environ=os.environ) -> tuple[bool, SmtpTarget | None, str | None]:
    """(on, the server or None, why there is none)."""
    if not email.enabled:
        return False, None, None
    try:
        target = smtp_target(email, environ)
    except ValueError as exc:
        return True, None, str(exc)
    return True, target, None if target else NO_SERVER


def contact(people: People, project: str) -> Contact:
    coordinator = people.coordinator
    return Contact(coordinator.name, coordinator.email[0] if coordinator.email else None, project)


def record_and_send(outbox: Outbox, messages: list[Message], email: EmailSettings, environ=os.environ,
                    now: float | None = None, link_for: LinkFor = _no_link,
                    bundle_as: Contact | None = None) -> Delivery:
    """Record the messages the outbox does not know (skipped: e-mail off or no address),
    with ``bundle_as`` made into one per partner first (:func:`tasks.notify.messages.bundle`),
    then send everything waiting, each with the person's link put in as it goes out."""
    on, target, problem = mail_switch(email, environ)
    done = Delivery()
    new = [m for m in messages if not outbox.knows(m.id)]
    for message in bundle(new, bundle_as) if bundle_as else new:
        if not on or not message.to:
            outbox.skip(message, "e-post avstängd" if not on else "ingen e-postadress", now)
            done.skipped += 1
        else:
            outbox.put(message, now)
    if not on:
        return done
    return done.then(outbox.deliver(Mailer(target, email.sender) if target else None, problem or NO_SERVER, now,
                                    link_for))


# --- after the intake -----------------------------------------------------------------------


def partner_messages(config: Config, files: list[InboxFile], reports: dict[str, Report],
                     reviews: dict[str, dict], personal: dict[str, dict], shown: dict[str, str],
                     known_before: set[tuple[str, str]], on: date) -> list[tuple[Message, bool]]:
    """Every message the partners are due after an intake, each with whether it is about
    something the pipeline knew before this run (``known_before``: (inbox key, change token)
    pairs). Built per partner from that partner's files, reports and pieces only."""
    registry, outline = config.registry, config.outline
    who = contact(config.people, outline.project)
    found: list[tuple[Message, bool]] = []
    tokens = {f.key: f.etag for f in files}
    for f in files:
        if not f.partner or f.verdict not in ("accepted", "rejected") or f.reason_code in TRANSIENT:
            continue
        partner = registry.by_slug(f.partner)
        key = shown.get(f.key, f.key)
        common = dict(partner=partner.slug, partner_name=partner.name, to=list(partner.email), key=f.key,
                      content=f.sha256 or f"{f.etag}:{f.size}", name=key.rsplit("/", 1)[-1],
                      name_masked=key != f.key, contact=who)
        if f.verdict == "accepted":
            report = reports.get(slot_key(f.partner, f.piece))
            if report is None or report.source != f.key:
                continue
            message = accepted_receipt(**common, piece=f.piece, piece_title=outline.pieces[f.piece].title,
                                       version=f.version or 1, pages=over_length(report),
                                       personal=counts_phrase(personal.get(slot_key(f.partner, f.piece)) or {}) or None)
        else:
            message = rejected_receipt(**common, reason_code=f.reason_code or "", reason=f.reason or "",
                                       piece=f.piece)
        found.append((message, (f.key, f.etag) in known_before))
    for slot, summary in sorted(reviews.items()):
        report = reports.get(slot)
        if report is None or summary.get("pending") or summary.get("findings") is None:
            continue
        partner = registry.by_slug(report.partner)
        message = review_ready(partner=partner.slug, partner_name=partner.name, to=list(partner.email),
                               piece=report.piece, piece_title=outline.pieces[report.piece].title,
                               content=report.sha256, findings=summary["findings"],
                               by_severity=summary.get("by_severity"), contact=who)
        found.append((message, (report.source, tokens.get(report.source)) in known_before))
    for due in reminders_due(config, set(reports), on):
        partner = registry.by_slug(due.partner)
        found.append((reminder(partner=partner.slug, partner_name=partner.name, to=list(partner.email),
                               piece=due.piece, piece_title=outline.pieces[due.piece].title, due=due.due,
                               stage=due.stage, today=on, contact=who),
                      False))
    return found


def comment_messages(config: Config, points: list[dict], outbox: Outbox) -> list[Message]:
    """One message per partner whose text got open review points the outbox has not told
    (each point once: the message covers an id per point)."""
    who = contact(config.people, config.outline.project)
    order = {piece: i for i, piece in enumerate(config.outline.pieces)}
    found = []
    for partner in config.registry.partners:
        new = [p for p in points if p.get("partner") == partner.slug and p.get("status", "open") == "open"
               and not outbox.knows(comment_id(p))]
        if not new:
            continue
        counts: dict[str, int] = {}
        for p in new:
            counts[p.get("piece") or ""] = counts.get(p.get("piece") or "", 0) + 1
        pieces = [(piece, config.outline.pieces[piece].title if piece in config.outline.pieces else "", n)
                  for piece, n in sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order)))]
        found.append(comments_arrived(partner=partner.slug, partner_name=partner.name, to=list(partner.email),
                                      pieces=pieces, covers=[comment_id(p) for p in new], contact=who))
    return found


def comment_id(point: dict) -> str:
    """The outbox's id for telling a partner of one review point."""
    return message_id("comment", point.get("partner"), point["id"])


def after_intake(out: Storage, config: Config, files: list[InboxFile], reports: dict[str, Report],
                 reviews: dict[str, dict], personal: dict[str, dict], shown: dict[str, str],
                 known_before: set[tuple[str, str]], today: date, link_for: LinkFor = _no_link,
                 environ=os.environ, now: float | None = None, points: list[dict] = (),
                 begin: bool = True) -> Delivery | None:
    """Receipts, review notices, reminders and the reviewers' new ``points`` for the
    partners, one message per partner; None when e-mail has never been on for these outputs
    (or, ``begin`` False, when this would begin the outbox)."""
    email = config.settings.email
    outbox = Outbox(out)
    on, target, _ = mail_switch(email, environ)
    if not outbox.started and not (on and target and begin):
        return None
    messages = partner_messages(config, files, reports, reviews, personal, shown, known_before, today)
    if not outbox.started:  # what was there before e-mail was on is never told
        outbox.start([m.id for m, old in messages if old] + [comment_id(p) for p in points], now)
    messages = [m for m, _ in messages] + comment_messages(config, list(points), outbox)
    return record_and_send(outbox, messages, email, environ, now, link_for,
                           bundle_as=contact(config.people, config.outline.project))


def after_harvest(out: Storage, config: Config, feedback: dict, link_for: LinkFor = _no_link,
                  environ=os.environ, now: float | None = None) -> Delivery | None:
    """After reviewers' comments were read: one message to each partner whose text got new
    open points; None when e-mail has never been on for these outputs."""
    outbox = Outbox(out)
    if not outbox.started:  # e-mail never on: the intake would have begun the outbox
        return None
    return record_and_send(outbox, comment_messages(config, feedback.get("points", []), outbox),
                           config.settings.email, environ, now, link_for)


# --- after a build --------------------------------------------------------------------------

def draft_links(out: Storage, manifest: dict, expires: int) -> dict[str, str]:
    """Label -> URL of the draft's downloads, its changes page and the reviewers' page, when
    the outputs give links anyone can open (presigned URLs); local paths are left out."""
    version = manifest["version"]
    links = {draft_label(fmt, capital=True): out.href(key, filename=f"utkast-{version}.{fmt}", expires=expires)
             for fmt, key in manifest["formats"].items()}
    links["Ändringarna i texten"] = out.href(changes_key(version, "html"), expires=expires)
    links["Alla utkast (granskarsidan)"] = out.href("drafts/index.html", expires=expires)
    return {label: url for label, url in links.items() if url.startswith(("https://", "http://"))}


def change_lines(log: dict) -> list[str]:
    """The changed reports, in Swedish (rejected files are left out: reviewers read reports)."""
    lines = []
    for group in [*log["paket"], log["other"]]:
        lines += [f"Ny: {i['label']}" for i in group["new"]]
        lines += [f"Uppdaterad: {i['label']}" for i in group["updated"]]
        lines += [f"Borttagen: {i['label']}" for i in group["withdrawn"]]
    return lines


def after_build(out: Storage, config: Config, today: date, link_for: LinkFor = _no_link,
                environ=os.environ, now: float | None = None) -> Delivery | None:
    """The latest draft to each reviewer who has not had it (from ``[schedule]
    review_from`` on); None when there is nothing to do."""
    email = config.settings.email
    schedule = config.outline.schedule
    if schedule and schedule.review_from and today < schedule.review_from:
        return None
    latest = read_latest(out)
    manifest = read_manifest(out, latest["version"]) if latest else None
    if not manifest or not config.people.reviewers:
        return None
    outbox = Outbox(out)
    if not outbox.started:  # e-mail never on: the intake would have begun the outbox
        return None
    previous_version = manifest.get("changes", {}).get("previous")
    previous = read_manifest(out, previous_version) if previous_version else None
    log = changelog(previous, manifest, config)
    links = draft_links(out, manifest, config.settings.link_seconds)
    who = contact(config.people, config.outline.project)
    messages = [new_draft(reviewer=person.name, to=list(person.email), version=manifest["version"],
                          created_sv=manifest.get("created_sv") or manifest["created"], title=manifest["title"],
                          previous=previous_version, changes=change_lines(log), summary=log["summary"], links=links,
                          contact=who)
                for person in config.people.reviewers]
    return record_and_send(outbox, messages, email, environ, now, link_for)


# --- after a failure ------------------------------------------------------------------------


def after_failure(out: Storage | None, email: EmailSettings, people: People, project: str, *, run_id: str,
                  flow: str, run_name: str, problem: str, ui_link: str | None = None,
                  rules: PersonalRules | None = None, environ=os.environ, now: float | None = None) -> Delivery | None:
    """Tell the coordinator that a run failed. Through the outbox when the outputs can be
    written; when they cannot (the failure may be theirs), straight to the server."""
    on, target, _ = mail_switch(email, environ)
    if not on or not people.coordinator.email:
        return None
    text = without_secrets(problem or "okänt fel", environ)
    if rules is not None:
        text = mask_in_text(text, rules)
    message = failed_run(run_id=run_id, flow=flow, run_name=run_name,
                         when_sv=swedish_datetime(now or time.time()), problem=text,
                         to=list(people.coordinator.email), ui_link=ui_link, contact=contact(people, project))
    if out is not None:
        try:
            return record_and_send(Outbox(out), [message], email, environ, now)
        except Exception:  # the outputs fail too: send it directly
            pass
    if target is None:
        return Delivery(problem=NO_SERVER)
    mailer = Mailer(target, email.sender)
    try:
        mailer.send(message)
        return Delivery(sent=[message.id])
    except SendProblem as exc:
        return Delivery(problem=str(exc))
    finally:
        mailer.close()
