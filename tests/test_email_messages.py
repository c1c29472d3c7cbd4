"""E-mail as people get it, as plain functions: one message per partner and moment (a receipt
and its review together), replies to the coordinator, the note that a link is personal, the
reviewers' new comments told once per point, the receipts held while the review runs (a real
SMTP server on 127.0.0.1), and the change lines without a doubled piece number."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest

from tasks.notify.messages import (
    FOLLOWS,
    LINK_SLOT,
    Contact,
    accepted_receipt,
    bundle,
    new_draft,
    rejected_receipt,
    reminder,
    review_ready,
    with_link,
)
from tasks.notify.outbox import Outbox
from tasks.notify.smtp import email_message
from tasks.roundtrip.compare import piece_label
from tasks.storage.local import LocalStorage
from tests.builders import put
from tests.smtp_server import SmtpServer

CONTACT = Contact("Heidi Sandberg", "heidi.sandberg@samordning.test", "Utveckla second hand")
MYRORNA = dict(partner="myrorna", partner_name="Myrorna", to=["kansli@myrorna.test"], contact=CONTACT)
TITLE = "Utmaningar och förbättringsförslag för kvalitetssäkring"


def receipt(content="ab12", piece="1.3", name="1.3 Kvalitet.docx", **more):
    return accepted_receipt(**MYRORNA, key=f"myrorna/{name}", content=content, name=name, piece=piece,
                            piece_title=TITLE, **more)


def review(content="ab12", piece="1.3", findings=2):
    return review_ready(**MYRORNA, piece=piece, piece_title=TITLE, content=content, findings=findings,
                        by_severity={"fel": 1, "varning": 1} if findings else None)


# --- one message per partner ----------------------------------------------------------------------


def test_a_receipt_and_the_review_of_the_same_file_are_one_message():
    first, second = receipt(), review()
    (one,) = bundle([first, second], CONTACT)

    assert one.subject == "Mottagen och granskad: delrapport 1.3 (2 påpekanden)"
    assert one.body.startswith("Hej!\n\nVi har tagit emot filen ”1.3 Kvalitet.docx” från Myrorna.")
    assert f"Språkgranskningen av er delrapport 1.3 ”{TITLE}” är klar: 2 påpekanden (1 fel, 1 varning)." in one.body
    assert FOLLOWS not in one.body  # "the review follows": it is here
    assert one.body.count(LINK_SLOT) == 1 and one.body.count("Med vänliga hälsningar") == 1
    assert one.covers == sorted([first.id, second.id]) and one.reply_to == [CONTACT.email]
    assert bundle([second, first], CONTACT)[0].id == one.id  # the same two: the same message


def test_a_review_of_other_content_or_another_partner_is_not_merged_into_the_receipt():
    old_review = review(content="older")
    (one,) = bundle([receipt(), old_review], CONTACT)
    assert one.subject == "Mottagen: delrapport 1.3; Språkgranskning klar: delrapport 1.3"
    assert FOLLOWS in one.body  # this file's review is still to come
    verdandi = reminder(partner="verdandi", partner_name="Verdandi", to=["v@verdandi.test"], piece="4.2",
                        piece_title="Motiv", due=date(2026, 6, 30), stage="late", today=date(2026, 7, 1),
                        contact=CONTACT)
    two = bundle([receipt(), verdandi], CONTACT)
    assert [m.about for m in two] == ["myrorna", "verdandi"] and two[1] is verdandi


def test_many_messages_to_one_partner_make_one_with_every_matter_in_order():
    rejected = rejected_receipt(**MYRORNA, key="myrorna/bilaga.pdf", content="ff", reason_code="unsupported_format",
                                name="bilaga.pdf", reason="PDF-filer kan inte läsas in.", piece=None)
    late = reminder(**MYRORNA, piece="1.4", piece_title="Roller", due=date(2026, 6, 30), stage="late",
                    today=date(2026, 7, 1))
    (one,) = bundle([receipt(), rejected, review(), late], CONTACT)
    assert one.subject == ("Mottagen och granskad: delrapport 1.3 (2 påpekanden); Kunde inte tas emot: bilaga.pdf "
                           "och 1 besked till")
    body = one.body
    assert body.index("Vi har tagit emot") < body.index("Språkgranskningen av er") < body.index(
        "Filen ”bilaga.pdf” från Myrorna kunde inte tas emot.") < body.index("Delrapport 1.4 ”Roller”")
    assert len(one.covers) == 4


def test_the_outbox_knows_what_a_message_covered_and_sends_each_matter_once(tmp_path):
    from tasks.notify.run import record_and_send
    from tests.test_notify import Recorder

    out = LocalStorage(tmp_path / "outputs")
    outbox = Outbox(out)
    outbox.start([])
    first, second = receipt(), review()
    recorder = Recorder()
    bundle_as = dict(bundle_as=CONTACT)
    email = _email_on()
    done = record_and_send(outbox, [first, second], email, {}, None, **bundle_as)
    (waiting,) = Outbox(out).waiting()
    assert waiting["covers"] == sorted([first.id, second.id]) and done.sent == []
    assert Outbox(out).knows(first.id) and Outbox(out).knows(second.id)
    assert sorted(p.name for p in (tmp_path / "outputs/notify/merged").iterdir()) == sorted(
        f"{i}.json" for i in (first.id, second.id))
    Outbox(out).deliver(recorder)
    assert recorder.sent == [waiting["id"]]
    # The next run has the same two and a new one: only the new one goes, in a message of its own.
    later = receipt(content="cd34", name="1.3 Kvalitet v2.docx")
    record_and_send(Outbox(out), [first, second, later], email, {}, None, **bundle_as)
    assert [w["id"] for w in Outbox(out).waiting()] == [later.id]


def _email_on():
    from tasks.core.config import EmailSettings

    return EmailSettings(server="smtp://127.0.0.1:9")


# --- replies, links -------------------------------------------------------------------------------


def test_replies_go_to_the_coordinator_and_a_working_link_is_said_to_be_personal():
    link = "https://utkast.example.org/l/" + "x" * 43 + "/"
    sent = with_link(receipt(), link)
    assert f"Er sida, med era rapporter, granskningar och besked: {link}\nLänken är personlig" in sent.body
    assert "Vidarebefordra inte det här meddelandet utanför organisationen och dela inte länken." in sent.body
    assert "Länken är personlig" not in with_link(receipt(), None).body  # no link, nothing to forward
    mail = email_message(sent, "Utkast <utkast@samordning.test>")
    assert mail["Reply-To"] == CONTACT.email and mail["From"] == "Utkast <utkast@samordning.test>"
    assert "Svara på det här meddelandet, så når ni samordnaren." in sent.body
    draft = with_link(new_draft(reviewer="Åsa Öberg", to=["asa@granskning.test"], version="v", created_sv="3 augusti",
                                title="Utkast", previous=None, changes=[], summary="", links={}, contact=CONTACT),
                      link)
    assert "Länken är personlig: den öppnar din sida utan lösenord." in draft.body
    assert "ladda upp Word-filen på din granskarsida" in draft.body and draft.reply_to == [CONTACT.email]
    nobody = Contact("Samordnaren", None, "Förstudien")
    assert email_message(accepted_receipt(**{**MYRORNA, "contact": nobody}, key="k", content="c", name="n.docx",
                                          piece="1.3", piece_title=TITLE), "u@x.test")["Reply-To"] is None


# --- the reviewers' comments ----------------------------------------------------------------------


def point(pid: str, partner: str | None, piece: str | None, status: str = "open") -> dict:
    return {"id": pid, "partner": partner, "piece": piece, "status": status}


def test_each_partner_is_told_of_new_comments_once_with_how_many_per_piece(tmp_path, config):
    from tasks.notify.run import comment_messages

    outbox = Outbox(LocalStorage(tmp_path / "outputs"))
    points = [point("a1", "myrorna", "1.3"), point("a2", "myrorna", "1.3"), point("a3", "myrorna", "1.1"),
              point("b1", "verdandi", "4.2"), point("c1", None, "2.1"), point("d1", "forum", "5.1", "done")]
    told = {m.about: m for m in comment_messages(config, points, outbox)}
    assert set(told) == {"myrorna", "verdandi"}  # not the heading's point (nobody's), not one marked done
    myrorna, verdandi = told["myrorna"], told["verdandi"]
    assert myrorna.subject == "Synpunkter från granskarna: 3 nya synpunkter på er text"
    titles = config.outline.pieces
    assert (f"De externa granskarna har lämnat 3 nya synpunkter på er text i utkastet: 1 synpunkt på delrapport "
            f"1.1 ”{titles['1.1'].title}”, 2 synpunkter på delrapport 1.3 ”{titles['1.3'].title}”.") in myrorna.body
    assert LINK_SLOT in myrorna.body and len(myrorna.covers) == 3
    for m in (myrorna, verdandi):
        outbox.put(m)
    assert comment_messages(config, points, outbox) == []
    (again,) = comment_messages(config, points + [point("a4", "myrorna", "1.3")], outbox)
    assert again.subject == "Synpunkter från granskarna: 1 ny synpunkt på er text" and len(again.covers) == 1


# --- receipts wait for the review, a while --------------------------------------------------------


@pytest.fixture
def intake_done(tmp_path, monkeypatch):
    """A partner's accepted file after screening and conversion, e-mail on (a real SMTP server)."""
    from tasks.core.config import load_config
    from tests.builders import normalise_inbox
    from tests.test_email_flow import mail_templates

    config = load_config(mail_templates(tmp_path))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nVerksamheten bygger på gemenskap och arbete.\n")
    files, reports = normalise_inbox(inbox, out, config)
    with SmtpServer() as server:
        monkeypatch.setenv("UTKAST_SMTP_URL", server.url)
        Outbox(LocalStorage(out)).start([])
        yield config, LocalStorage(out), files, reports, server


def _held(config, seconds: int):
    return config.__class__(**{**config.__dict__, "settings": config.settings.model_copy(update={
        "email": config.settings.email.model_copy(update={"hold_receipt_seconds": seconds})})})


def test_receipts_go_when_the_review_takes_longer_than_the_hold(intake_done):
    from flows.notify import PartnerMail

    config, out, files, reports, server = intake_done
    mail = PartnerMail(out, _held(config, 1), set(), date(2026, 5, 4))
    mail.hold(files, reports, {}, {})
    deadline = time.monotonic() + 30
    while not server.received and time.monotonic() < deadline:
        time.sleep(0.1)  # the "review" runs here, longer than the hold
    early = mail.stop_holding()
    (got,) = server.take()
    assert got.subject == "Mottagen: delrapport 4.2 från Verdandi" and FOLLOWS in got.text
    assert early.sent == [json.loads(next((out.root / "notify/sent").glob("*.json")).read_text())["id"]]


def test_receipts_wait_for_a_review_that_ends_within_the_hold(intake_done):
    from flows.notify import PartnerMail

    config, out, files, reports, server = intake_done
    mail = PartnerMail(out, _held(config, 60), set(), date(2026, 5, 4))
    mail.hold(files, reports, {}, {})
    assert mail.stop_holding() is None and server.take() == []
    assert not (out.root / "notify" / "sent").exists()


# --- change lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("title, label", [
    ("Kvalitet i butiken", "1.3 Kvalitet i butiken"),
    ("1.3 Utmaningar och förbättringsförslag", "1.3 Utmaningar och förbättringsförslag"),
    ("1.3. Utmaningar", "1.3 Utmaningar"),
    ("1.3 – Utmaningar", "1.3 Utmaningar"),
    ("Delrapport 1.3: Utmaningar", "1.3 Utmaningar"),
    ("P1.3 Utmaningar", "1.3 Utmaningar"),
    ("1.3", "1.3"),
    ("1.30 idéer", "1.3 1.30 idéer"),
    ("13 sätt att mäta", "1.3 13 sätt att mäta"),
])
def test_a_title_that_begins_with_its_piece_number_does_not_repeat_it(title, label):
    assert piece_label("1.3", title) == label


def test_the_change_lines_name_each_report_once(config):
    from tasks.notify.run import change_lines
    from tasks.roundtrip.compare import changelog

    manifest = {"version": "v2", "reports": [{"partner": "myrorna", "piece": "1.3", "sha256": "a", "version": 1,
                                              "title": "1.3 Utmaningar och förbättringsförslag", "source": "k"}],
                "inputs": []}
    assert change_lines(changelog(None, manifest, config)) == [
        "Ny: 1.3 Utmaningar och förbättringsförslag (Myrorna, version 1)"]
