"""Plain Swedish in every e-mail a partner or a reviewer gets: no folders, inboxes, runs or
builds, no `feedback/`, no rule ids (like HUNSPELL_RULE). Every kind of message is built over
generated inputs (every partner, piece, reason a partner's file can be refused for, stage,
count and flag, alone and bundled, with a working link and without) and its subject and text
are searched; the words of the inputs themselves (a file named "mapp.docx") are taken out
first, so only what utkast writes is judged. Hypothesis then draws runs of any of a partner's
matters, with file names of any letters, and checks that they make one plain message that
covers each. The coordinator's failed-run message may keep technical words and is not checked
here."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.core.errors import (
    ChangedDuringRun,
    NoPartnerFolder,
    NoReviewerFolder,
    NotADraft,
    NotWordFeedback,
    Rejected,
    UnknownPartner,
    UnsupportedFormat,
)
from tasks.intake.reasons import KIND_SV, REAL_SV, explain
from tasks.notify.messages import (
    PERSONAL_LINE,
    Contact,
    Message,
    accepted_receipt,
    bundle,
    comments_arrived,
    new_draft,
    rejected_receipt,
    reminder,
    review_ready,
    with_link,
)

JARGON = re.compile(r"mapp|inkorg|körning|bygge|feedback/", re.I)
RULE_ID = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
LINK = "https://utkast.example.org/l/" + "A" * 43 + "/"
CONTACTS = [Contact("Heidi Sandberg", "heidi@samordning.test", "Utveckla second hand"),
            Contact("Samordnaren", None, "Utveckla second hand")]
# File names as partners write them, some holding the very words utkast must not use itself.
NAMES = ["1.3 Kvalitet.docx", "mapp 2.1.docx", "Körning_inkorg.pdf", "bygget feedback/x.odt",
         "P2.4 HUNSPELL_RULE.rtf", "Översikt [personnummer borttaget].docx"]
# Rejections that never reach a partner's e-mail: no partner folder, a reviewer's file, or read again next run.
NOT_TO_PARTNERS = {UnknownPartner, NoPartnerFolder, NoReviewerFolder, NotWordFeedback, NotADraft, ChangedDuringRun}
FACTS = {"size": 31 * 2 ** 20, "limit": 20 * 2 ** 20, "ext": ".docx", "real": "odt", "entries": 6000,
         "max_entries": 5000, "folder": "x"}


def refusals(pieces: list[str]) -> list[tuple[str, str]]:
    """(code, Swedish reason) for every way a partner's file can be refused."""
    found = []
    for cls in Rejected.__subclasses__():
        if cls in NOT_TO_PARTNERS:
            continue
        variants = [dict(FACTS)]
        if cls is UnsupportedFormat:
            variants = [{**FACTS, "kind": k} for k in [*KIND_SV, "doc", "pdf", "mismatch"]]
            variants += [{**FACTS, "kind": "mismatch", "real": r} for r in REAL_SV]
        if cls.code == "archive_bomb":
            variants.append({"limit": FACTS["limit"]})
        found += [(cls.code, explain(cls("detail", **facts), valid_pieces=pieces)) for facts in variants]
    return found


def partner_messages(config, contact: Contact) -> list[Message]:
    """Every kind of message a partner gets, over every partner, piece and flag."""
    pieces = config.outline.pieces
    ids = list(pieces)
    found = []
    for n, (partner, (piece_id, piece)) in enumerate(zip(config.registry.partners, itertools.cycle(pieces.items()))):
        common = dict(partner=partner.slug, partner_name=partner.name, to=[f"{partner.slug}@x.test"], contact=contact)
        name = NAMES[n % len(NAMES)]
        for version, pages, personal, masked in itertools.product((1, 3), (None, 4.2), (None, "2 namn, 1 adress"),
                                                                  (False, True)):
            found.append(accepted_receipt(**common, key=f"{partner.slug}/{name}", content=f"c{version}", name=name,
                                          piece=piece_id, piece_title=piece.title, version=version, pages=pages,
                                          personal=personal, name_masked=masked))
        for (code, reason), where in itertools.product(refusals(ids), (None, piece_id)):
            found.append(rejected_receipt(**common, key=f"{partner.slug}/{name}", content="r", reason_code=code,
                                          name=name, reason=reason, piece=where, name_masked=n % 2 == 0))
        for findings, severity in ((0, None), (1, {"fel": 1}), (7, {"fel": 2, "varning": 4, "tips": 1})):
            found.append(review_ready(**common, piece=piece_id, piece_title=piece.title, content="c1",
                                      findings=findings, by_severity=severity))
        due = date(2026, 6, 30)
        for stage, days in (("before", 0), ("before", 1), ("before", 6), ("late", -3)):
            found.append(reminder(**common, piece=piece_id, piece_title=piece.title, due=due, stage=stage,
                                  today=due - timedelta(days=days)))
        found.append(comments_arrived(**common, pieces=[(piece_id, piece.title, 1)], covers=["a"]))
        found.append(comments_arrived(**common, pieces=[(i, pieces[i].title, 2) for i in ids[:3]], covers=["b", "c"]))
    return found


def reviewer_messages(config, contact: Contact) -> list[Message]:
    """A new draft to a reviewer: first and later drafts, with and without changes and links."""
    from tasks.notify.run import change_lines
    from tasks.roundtrip.compare import changelog

    reports = [{"partner": p.slug, "piece": piece_id, "sha256": piece_id, "version": 1, "source": "k",
                "title": f"{piece_id} {piece.title}" if i % 2 else piece.title}
               for i, (p, (piece_id, piece)) in enumerate(zip(config.registry.partners, config.outline.pieces.items()))]
    first = {"version": "v1", "reports": reports[:5], "inputs": []}
    later = {"version": "v2", "reports": [{**r, "sha256": "new", "version": 2} for r in reports[3:]], "inputs": []}
    found = []
    for previous, manifest in ((None, first), (first, later), (later, later)):
        log = changelog(previous, manifest, config)
        for links in ({}, {"Word": "https://s3.example/utkast.docx?X-Amz-Signature=1"}):
            found.append(new_draft(reviewer="Åsa Öberg", to=["asa@x.test"], version=manifest["version"],
                                   created_sv="3 augusti 2026 kl. 02.00", title=config.outline.title,
                                   previous=previous and previous["version"], changes=change_lines(log),
                                   summary=log["summary"], links=links, contact=contact))
    return found


def judged(text: str) -> str:
    """The text without the inputs' own words (file names, the link)."""
    for value in (*NAMES, LINK):
        text = text.replace(value, " ")
    return text


@pytest.mark.parametrize("contact", CONTACTS, ids=["coordinator with address", "without"])
def test_no_message_to_a_partner_or_a_reviewer_holds_jargon_or_a_rule_id(config, contact):
    partners = partner_messages(config, contact)
    groups = [partners[i:i + 9] for i in range(0, len(partners), 9)]  # a run's several matters for one partner
    everything = [*partners, *(m for g in groups for m in bundle(g, contact)), *reviewer_messages(config, contact)]
    kinds = {m.kind for m in everything}
    assert kinds == {"receipt", "review", "reminder", "comments", "bundle", "draft"}
    for message, link in itertools.product(everything, (LINK, None)):
        sent = with_link(message, link)
        text = judged(f"{sent.subject}\n{sent.body}")
        assert not JARGON.search(text), (message.kind, JARGON.search(text).group(), text)
        assert not RULE_ID.search(text), (message.kind, RULE_ID.search(text).group(), text)
        who = "reviewer" if message.kind == "draft" else "partner"
        assert (PERSONAL_LINE[who] in sent.body) == (link is not None), (message.kind, sent.body)
        assert sent.reply_to == ([contact.email] if contact.email else [])
    drafts = [m for m in everything if m.kind == "draft"]
    assert all("ladda upp Word-filen på din granskarsida" in m.body for m in drafts)


def test_every_refusal_a_partner_can_get_is_checked(config):
    """The generated reasons cover every code a partner's file can be refused with."""
    codes = {code for code, _ in refusals(list(config.outline.pieces))}
    assert codes == {cls.code for cls in Rejected.__subclasses__()} - {cls.code for cls in NOT_TO_PARTNERS}
    reasons = dict(refusals(list(config.outline.pieces)))
    assert "Komprimera bilder" in reasons["too_large"] and "→" not in reasons["too_large"]


# --- bundles of any of a partner's matters ----------------------------------------------------------

FILE_NAME = st.text(st.characters(categories=("L", "N"), include_characters=" ._-"), min_size=1, max_size=40).map(
    lambda s: f"{s.strip() or 'x'}.docx")


@st.composite
def one_partners_matters(draw, config):
    """A run's messages for one partner: receipts (accepted or refused) of generated file names,
    reviews of the same or other content, reminders and comments, in any order."""
    partner = draw(st.sampled_from(config.registry.partners))
    pieces = list(config.outline.pieces.items())
    contact = draw(st.sampled_from(CONTACTS))
    common = dict(partner=partner.slug, partner_name=partner.name, to=[f"{partner.slug}@x.test"], contact=contact)
    found, names = [], []
    for _ in range(draw(st.integers(1, 6))):
        piece_id, piece = draw(st.sampled_from(pieces))
        name, content = draw(FILE_NAME), draw(st.sampled_from(["a", "b"]))
        names.append(name)
        kind = draw(st.sampled_from(["accepted", "refused", "review", "reminder", "comments"]))
        if kind == "accepted":
            found.append(accepted_receipt(**common, key=f"{partner.slug}/{name}", content=content, name=name,
                                          piece=piece_id, piece_title=piece.title))
        elif kind == "refused":
            code, reason = draw(st.sampled_from(refusals([p for p, _ in pieces])))
            found.append(rejected_receipt(**common, key=f"{partner.slug}/{name}", content=content, reason_code=code,
                                          name=name, reason=reason, piece=piece_id))
        elif kind == "review":
            found.append(review_ready(**common, piece=piece_id, piece_title=piece.title, content=content,
                                      findings=draw(st.integers(0, 40)), by_severity={"fel": 1}))
        elif kind == "reminder":
            found.append(reminder(**common, piece=piece_id, piece_title=piece.title, due=date(2026, 6, 30),
                                  stage="late", today=date(2026, 7, 1)))
        else:
            found.append(comments_arrived(**common, pieces=[(piece_id, piece.title, draw(st.integers(1, 9)))],
                                          covers=[draw(st.text("abcdef0123456789", min_size=8, max_size=8))]))
    return contact, found, names


@pytest.mark.parametrize("with_a_link", [True, False])
def test_any_run_gives_a_partner_one_plain_message_covering_every_matter(config, with_a_link):
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(one_partners_matters(config))
    def check(drawn):
        contact, messages, names = drawn
        unique = list({m.id: m for m in messages}.values())  # the outbox drops a message it already knows
        (one,) = bundle(unique, contact)
        assert {m.id for m in unique} <= {one.id, *one.covers}
        sent = with_link(one, LINK if with_a_link else None)
        text = f"{sent.subject}\n{sent.body}"
        for name in sorted(names, key=len, reverse=True):
            text = text.replace(name, " ")
        text = text.replace(LINK, " ")
        assert not JARGON.search(text) and not RULE_ID.search(text), text
        assert sent.body.count("Med vänliga hälsningar") == 1 and sent.body.startswith("Hej!")
        assert (PERSONAL_LINE["partner"] in sent.body) == with_a_link

    check()
