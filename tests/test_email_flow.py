"""E-mail through real runs: the flows send to a real SMTP server on 127.0.0.1 (aiosmtpd) and
the messages are read back: who got what, in Swedish, once, never another partner's data,
never a secret; an SMTP outage never fails a build."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from docx import Document

from tasks.core.config import default_templates
from tests.builders import make_docx, put
from tests.smtp_server import SmtpServer, free_port

ADDRESSES = {
    "myrorna": ["kansli@myrorna.test", "kerstin.brage@myrorna.test"],
    "verdandi": ["raoul.hansson@verdandi.test"],
    "stadsmissionen": ["linus.bergstrom@stadsmissionen.test"],
    "forum": ["goran.pettersson@forum.test"],
}
COORDINATOR = "heidi.sandberg@samordning.test"
REVIEWER = ("Åsa Öberg", "asa.oberg@granskning.test")
EVERY_ADDRESS = {a for addresses in ADDRESSES.values() for a in addresses} | {COORDINATOR, REVIEWER[1]}


def mail_templates(root: Path, *, commissioned: dict[str, list[str]] | None = None, reviewers: bool = True,
                   action: str = "mask") -> Path:
    """A copy of templates/ with addresses for four partners, a coordinator and a reviewer,
    and the given commissions (piece -> slugs)."""
    target = root / "templates"
    shutil.copytree(default_templates(), target)
    return with_addresses(target, commissioned=commissioned, reviewers=reviewers, action=action)


def with_addresses(target: Path, *, commissioned: dict[str, list[str]] | None = None, reviewers: bool = True,
                   action: str = "mask") -> Path:
    """``mail_templates``'s changes made to the templates folder ``target`` itself."""
    partners = (target / "partners.toml").read_text(encoding="utf-8")
    for slug, addresses in ADDRESSES.items():
        partners = partners.replace(f'slug = "{slug}"\n', f'slug = "{slug}"\nemail = {json.dumps(addresses)}\n', 1)
    (target / "partners.toml").write_text(partners, encoding="utf-8")
    people = f'[coordinator]\nname = "Heidi Sandberg"\nemail = ["{COORDINATOR}"]\n'
    if reviewers:
        people += f'\n[[reviewer]]\nname = "{REVIEWER[0]}"\nemail = ["{REVIEWER[1]}"]\n'
    (target / "people.toml").write_text(people, encoding="utf-8")
    outline = (target / "outline.toml").read_text(encoding="utf-8")
    for piece, slugs in (commissioned or {}).items():
        outline = outline.replace(f'id = "{piece}"\n', f'id = "{piece}"\n  commissioned = {json.dumps(slugs)}\n', 1)
    (target / "outline.toml").write_text(outline, encoding="utf-8")
    settings = (target / "settings.toml").read_text(encoding="utf-8")
    (target / "settings.toml").write_text(settings.replace('action = "mask"', f'action = "{action}"'),
                                          encoding="utf-8")
    return target


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server on 127.0.0.1, named by UTKAST_SMTP_URL (no password)."""
    for name in ("UTKAST_SMTP_PASSWORD", "UTKAST_SMTP_USER"):
        monkeypatch.delenv(name, raising=False)
    with SmtpServer() as server:
        monkeypatch.setenv("UTKAST_SMTP_URL", server.url)
        yield server


def at(templates: Path, today: date) -> dict:
    """The flows' parameters for a run with ``templates`` on the day ``today`` (reminders,
    tracker, reviewers)."""
    return {"templates": str(templates), "today": today}


def cli_args(run: dict) -> list[str]:
    """The same for ``utkast build``."""
    return ["--templates", run["templates"], "--today", run["today"].isoformat()]


def build(inbox: Path, out: Path, run: dict, **options):
    from flows.build import build_draft

    return build_draft(inbox=str(inbox), out=str(out), review=options.pop("review", False),
                       formats=options.pop("formats", ["docx"]), **run, **options)


def by_recipient(received) -> dict[str, list]:
    found: dict[str, list] = {}
    for r in received:
        for address in r.rcpt_tos:
            found.setdefault(address, []).append(r)
    return found


def outbox_records(out: Path, state: str) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "notify" / state).glob("*.json"))]


# --- a rejected file ---------------------------------------------------------------------------


def test_a_rejected_file_gives_its_partner_one_swedish_email_and_nobody_else_anything(
        prefect_harness, tmp_path, smtp):
    run = at(mail_templates(tmp_path), date(2026, 5, 4))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/3.2 Länken.pdf", b"%PDF-1.4 a report nobody can edit")

    result = build(inbox, out, run)

    (got,) = smtp.take()
    assert sorted(got.rcpt_tos) == sorted(ADDRESSES["myrorna"])
    assert got.message["To"] == ", ".join(ADDRESSES["myrorna"])
    assert got.subject == "Kunde inte tas emot: 3.2 Länken.pdf"
    assert got.message["Content-Language"] == "sv"
    assert "Filen ”3.2 Länken.pdf” från Myrorna (delrapport 3.2) kunde inte tas emot." in got.text
    assert got.message["Reply-To"] == COORDINATOR  # a reply reaches the coordinator
    assert "Varför: PDF-filer kan inte läsas in i det gemensamma utkastet" in got.text
    assert "Skicka rapporten som Word-dokument (.docx)" in got.text  # what to send instead
    assert "använd den personliga länken i inbjudan" in got.text
    assert not re.search(r"verdandi|stadsmission|forum", got.text, re.I)
    assert result["email"] == {"sent": 1, "waiting": 0, "failed": 0, "skipped": 0, "problem": None}

    again = build(inbox, out, run)
    assert smtp.take() == [] and again["email"]["sent"] == 0
    (sent,) = outbox_records(out, "sent")
    assert sent["about"] == "myrorna" and sent["to"] == ADDRESSES["myrorna"] and "body" not in sent


# --- an outage ---------------------------------------------------------------------------------


def test_an_smtp_outage_never_fails_a_build_and_the_messages_go_out_once_on_the_next_run(
        prefect_harness, tmp_path, monkeypatch, capsys):
    from flows.cli import main

    run = at(mail_templates(tmp_path), date(2026, 5, 4))
    port = free_port()  # nothing listens here yet: connection refused
    monkeypatch.setenv("UTKAST_SMTP_URL", f"smtp://127.0.0.1:{port}")
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/3.2 Länken.pdf", b"%PDF-1.4 not editable")
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nVerksamheten bygger på gemenskap och arbete.\n")
    args = ["build", "--inbox", str(inbox), "--out", str(out), "--no-review", "--formats", "docx", *cli_args(run)]

    assert main(args) == 0
    printed = capsys.readouterr().out
    (line,) = [l for l in printed.splitlines() if l.startswith("E-mail:")]
    assert f"2 waiting (could not reach smtp://127.0.0.1:{port}" in line and "next run" in line
    assert (out / "drafts" / "latest.json").exists()
    waiting = outbox_records(out, "waiting")
    assert {w["about"] for w in waiting} == {"myrorna", "verdandi"}
    assert all(w["last_error"] and w["attempt_started"] is None for w in waiting)

    with SmtpServer(port=port) as server:
        assert main(args) == 0
        got = by_recipient(server.take())
        assert set(got) == set(ADDRESSES["myrorna"]) | set(ADDRESSES["verdandi"])
        assert [r.subject for r in got["raoul.hansson@verdandi.test"]] == ["Mottagen: delrapport 4.2 från Verdandi"]
        assert [r.subject for r in got["kansli@myrorna.test"]] == ["Kunde inte tas emot: 3.2 Länken.pdf"]
        assert "E-mail: 2 sent." in capsys.readouterr().out
        assert main(args) == 0
        assert server.take() == []
    assert outbox_records(out, "waiting") == [] and len(outbox_records(out, "sent")) == 2


def test_an_interrupted_send_goes_out_again_with_the_same_message_id(tmp_path, config, smtp, monkeypatch):
    """A run killed after the server took a message but before the outbox said so: the
    message is sent again, recognisably the same (Message-ID), and marked as a repeat."""
    from tasks.notify.messages import Contact, reminder
    from tasks.notify.outbox import Outbox
    from tasks.notify.smtp import Mailer, smtp_target
    from tasks.storage.local import LocalStorage

    out = LocalStorage(tmp_path / "outputs")
    message = reminder(partner="verdandi", partner_name="Verdandi", to=ADDRESSES["verdandi"], piece="4.2",
                       piece_title="Verksamheternas grundläggande motiv", due=date(2026, 6, 30), stage="before",
                       today=date(2026, 6, 25), contact=Contact("Heidi Sandberg", COORDINATOR, "Förstudien"))
    outbox = Outbox(out)
    outbox.put(message)

    class KilledAfterAcceptance(Mailer):
        def send(self, m):
            super().send(m)
            raise SystemExit("killed")  # the process dies before the outbox records it

    with pytest.raises(SystemExit):
        Outbox(out).deliver(KilledAfterAcceptance(smtp_target(config.settings.email), "utkast@localhost"))
    first = smtp.take()
    done = Outbox(out).deliver(Mailer(smtp_target(config.settings.email), "utkast@localhost"))
    second = smtp.take()
    assert done.sent == [message.id] and len(first) == len(second) == 1
    assert first[0].message["Message-ID"] == second[0].message["Message-ID"] == f"<{message.id}@localhost>"
    (sent,) = outbox_records(tmp_path / "outputs", "sent")
    assert sent["repeat"] is True and sent["attempts"] == 2
    assert Outbox(out).deliver(Mailer(smtp_target(config.settings.email), "utkast@localhost")).sent == []


# --- partners: receipts, review, reminders -------------------------------------------------------


def test_receipt_review_ready_and_reminders_each_partner_only_their_own(prefect_harness, tmp_path, monkeypatch,
                                                                          smtp):
    templates = mail_templates(tmp_path, commissioned={"1.3": ["myrorna"], "4.2": ["verdandi", "stadsmissionen"]})
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(
        ["Myrorna följer upp kvaliteten varje månad i alla butiker.", "Vi har  två mellanslag här."],
        heading="Kvalitet i butiken"))
    put(inbox, "stadsmissionen/4.2 Motiv.md", "# Motiv\n\nStadsmissionen driver butikerna av omsorg.\n")

    run = at(templates, date(2026, 6, 25))  # five days before 30 June: within the 7 days
    build(inbox, out, run, review=True)
    got = by_recipient(smtp.take())
    assert set(got) == set(ADDRESSES["myrorna"]) | set(ADDRESSES["stadsmissionen"]) | set(ADDRESSES["verdandi"])
    # One message per partner: the receipt and the review, done within the hold, together.
    (both,) = got["kansli@myrorna.test"]
    findings = json.loads((out / "review/myrorna/1.3.json").read_text(encoding="utf-8"))["counts"]["total"]
    assert findings >= 1
    assert both.subject == f"Mottagen och granskad: delrapport 1.3 ({findings} påpekande{'n' if findings > 1 else ''})"
    assert ("Vi har tagit emot filen ”1.3 Kvalitet.docx” från Myrorna. Den används som delrapport 1.3 "
            "”Utmaningar och förbättringsförslag för kvalitetssäkring”.") in both.text
    assert "Word-fil med påpekandena som kommentarer" in both.text
    assert "Ni får ett meddelande när språkgranskningen" not in both.text
    (reminded,) = got["raoul.hansson@verdandi.test"]
    assert reminded.subject == "Påminnelse: delrapport 4.2 ska lämnas senast 30 juni 2026"
    assert "Den ska lämnas senast 30 juni 2026, alltså om 5 dagar." in reminded.text
    assert [r.subject for r in got["linus.bergstrom@stadsmissionen.test"]] == [
        "Mottagen och granskad: delrapport 4.2 (inga påpekanden)"]
    for address, messages in got.items():
        own = next(slug for slug, addresses in ADDRESSES.items() if address in addresses)
        for r in messages:
            others = [s for s in ("myrorna", "verdandi", "stadsmission") if s not in own]
            assert not any(o in r.text.lower() for o in others), (address, r.subject)
            assert "Kvalitet i butiken" not in r.text or own == "myrorna"

    build(inbox, out, run, review=True)  # the next night, nothing new: nothing again
    assert smtp.take() == []

    run = at(templates, date(2026, 7, 1))  # the day after: Verdandi is late, once
    build(inbox, out, run, review=True)
    (late,) = smtp.take()
    assert late.rcpt_tos == ADDRESSES["verdandi"]
    assert late.subject == "Försenad: delrapport 4.2 skulle ha lämnats 30 juni 2026"
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    piece = next(p for p in status["pieces"] if p["id"] == "4.2")
    assert piece["late"] and piece["missing_from"] == ["verdandi"]
    assert "4.2" in status["late"] and "1.3" not in status["late"]  # others: late while nobody has delivered
    assert "försenad" in (out / "status.html").read_text(encoding="utf-8")
    build(inbox, out, run, review=True)
    assert smtp.take() == []


def test_switching_email_on_sends_no_receipts_for_old_files(prefect_harness, tmp_path, monkeypatch):
    run = at(mail_templates(tmp_path), date(2026, 5, 4))
    monkeypatch.delenv("UTKAST_SMTP_URL", raising=False)
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.md", "# Kvalitet\n\nVi mäter kvalitet.\n")
    put(inbox, "myrorna/2.1 Stöd.pdf", b"%PDF-1.4 old and rejected")
    build(inbox, out, run)  # no server anywhere: e-mail is not on, nothing recorded
    assert not (out / "notify").exists()

    put(inbox, "myrorna/2.2 Kvalitet.md", "# Kvalitet i stödet\n\nVi följer upp stödet.\n")
    with SmtpServer() as server:
        monkeypatch.setenv("UTKAST_SMTP_URL", server.url)
        build(inbox, out, run)
        (got,) = server.take()
    assert got.subject == "Mottagen: delrapport 2.2 från Myrorna"
    started = json.loads((out / "notify/started.json").read_text(encoding="utf-8"))
    assert len(started["baseline"]) == 2  # the two old files' receipts, never sent


# --- reviewers -----------------------------------------------------------------------------------


def test_each_new_draft_reaches_the_reviewers_once_from_the_review_period(prefect_harness, tmp_path, monkeypatch,
                                                                          smtp):
    templates = mail_templates(tmp_path)
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "forum/5.1 April.md", "# Avstämning\n\nMötet i april enades om kriterier.\n")

    run = at(templates, date(2026, 7, 20))  # before [schedule] review_from: working copies
    build(inbox, out, run)
    assert [r.rcpt_tos for r in smtp.take()] == [ADDRESSES["forum"]]  # the receipt only

    run = at(templates, date(2026, 8, 3))
    first = build(inbox, out, run)  # nothing new in the draft, but the reviewer has not had it yet
    (got,) = smtp.take()
    assert got.rcpt_tos == [REVIEWER[1]] and got.subject.startswith("Nytt utkast att granska: ")
    assert got.text.startswith(f"Hej {REVIEWER[0]}!")
    assert f"(version {first['version']})" in got.text and "- Ny: 5.1 Avstämning (Forum, version 1)" in got.text
    assert "använd den personliga länken i din inbjudan" in got.text
    build(inbox, out, run)
    assert smtp.take() == []

    put(inbox, "myrorna/1.3 Kvalitet.md", "# Kvalitet\n\nVi mäter kvalitet varje månad.\n")
    second = build(inbox, out, run)
    got = by_recipient(smtp.take())
    (news,) = got[REVIEWER[1]]
    assert second["published"] and f"(version {second['version']})" in news.text
    assert f"Ändringar sedan förra utkastet ({first['version']})" in news.text
    assert "- Ny: 1.3 Kvalitet (Myrorna, version 1)" in news.text and "Forum" not in news.text


# --- the coordinator ------------------------------------------------------------------------------


def test_a_failed_run_reaches_the_coordinator_without_personal_data(prefect_harness, tmp_path, smtp):
    from flows.build import build_draft

    run = at(mail_templates(tmp_path, action="stop"), date(2026, 5, 4))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nDeltagaren Anna Svensson (811218-9876) började i mars.\n")

    state = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"], **run, return_state=True)

    assert state.is_failed()
    got = by_recipient(smtp.take())
    (failure,) = got[COORDINATOR]
    assert failure.subject.startswith("Körningen misslyckades: bygge av utkast (")
    assert "personal data found in 4.2 Verdandi" in failure.text
    assert "811218-9876" not in failure.text and "Svensson" not in failure.text
    assert set(got) == {COORDINATOR, *ADDRESSES["verdandi"]}  # and Verdandi's receipt


# --- nothing personal, nothing secret ------------------------------------------------------------

PNR = "19850101-2382"  # a valid personal identity number (date and check digit)
IN_NAMES = [PNR, "198501012382", "Ingrid Marklund", "Marklund"]
IN_CAPITALS = ["ASTRID LINDQVIST", "Astrid Lindqvist", "LINDQVIST", "Lindqvist", "TOBIAS NYBERG", "Nyberg"]
# The partner's own folders (their text, their notes, their review) and the pipeline's cache.
PRIVATE = ("normalised/", "cache/", "review/", "rejected/")


def test_a_personal_identity_number_in_a_file_name_and_a_name_in_capitals_reach_no_published_output(
        prefect_harness, tmp_path, smtp):
    from tests.hostile import find_token
    from tests.test_personal_build import prefect_records, run_cli

    run = at(mail_templates(tmp_path), date(2026, 8, 10))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, f"myrorna/1.1 Översikt {PNR}.docx", make_docx(
        ["DELTAGAREN ASTRID LINDQVIST började hos oss i mars och arbetar nu i kassan.",
         "Astrid Lindqvist säger att det har gått bra. ESF och SKL följer arbetet."]))
    put(inbox, "myrorna/2.1 Intervju_198501012382.pdf", b"%PDF-1.4 an interview")
    put(inbox, "stadsmissionen/2.2 Deltagaren Ingrid Marklund.md", "Stödet har blivit bättre under våren.\n")
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nVi träffade deltagaren TOBIAS NYBERG i april. NYBERG trivs.\n")

    code, printed = run_cli(["build", "--inbox", str(inbox), "--out", str(out), "--formats", "docx,pdf,html",
                            *cli_args(run)])
    assert code == 0, printed
    mail = smtp.take()
    assert {a for r in mail for a in r.rcpt_tos} == (set(ADDRESSES["myrorna"]) | set(ADDRESSES["stadsmissionen"])
                                                     | set(ADDRESSES["verdandi"]) | {REVIEWER[1]})

    records = prefect_records()
    for value in IN_NAMES + IN_CAPITALS:
        hits = [hit for hit in find_token(out, value) if not hit.startswith(PRIVATE)]
        assert hits == [], (value, hits)
        assert value not in printed and value not in records and json.dumps(value)[1:-1] not in records
        assert not [r.subject for r in mail if value in r.subject or value in r.text], value
    # The masks stand where the values were, and the search finds what the partner keeps.
    draft = out / "drafts" / json.loads((out / "drafts/latest.json").read_text())["version"]
    manifest = json.loads((draft / "manifest.json").read_text(encoding="utf-8"))
    keys = {i["key"] for i in manifest["inputs"]}
    assert {"myrorna/1.1 Översikt [personnummer borttaget].docx", "myrorna/2.1 Intervju_[personnummer borttaget].pdf",
            "stadsmissionen/2.2 Deltagaren [namn borttaget].md"} <= keys
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["cells"]["myrorna/1.1"]["source"] == "myrorna/1.1 Översikt [personnummer borttaget].docx"
    assert (out / "rejected/myrorna/2.1 Intervju_[personnummer borttaget].pdf.txt").exists()
    assert any(PNR in (p.read_text(encoding="utf-8")) for p in (out / "normalised" / "myrorna").glob("*.json"))
    text = [p.text for p in Document(draft / "utkast.docx").paragraphs]
    assert "Vi träffade deltagaren [namn borttaget] i april. [namn borttaget] trivs." in text
    assert "DELTAGAREN [namn borttaget] började hos oss i mars och arbetar nu i kassan." in text
    assert "[namn borttaget] säger att det har gått bra. ESF och SKL följer arbetet." in text
    assert "Myrorna: Översikt [personnummer borttaget]" in text
    (receipt,) = [r for r in mail if r.rcpt_tos == ADDRESSES["myrorna"]]  # one message: both files and the review
    assert receipt.subject.startswith("Mottagen och granskad: delrapport 1.1 (")
    assert "; Kunde inte tas emot: 2.1 Intervju_[personnummer borttaget].pdf" in receipt.subject
    assert "Översikt [personnummer borttaget].docx" in receipt.text
    assert "Filnamnet innehåller personuppgifter" in receipt.text


def test_the_smtp_password_is_used_and_never_shown(prefect_harness, tmp_path, monkeypatch):
    from tests.hostile import find_token
    from tests.test_personal_build import prefect_records, run_cli

    secret = "hemligt-Lösen-93817"
    run = at(mail_templates(tmp_path), date(2026, 5, 4))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/3.2 Länken.pdf", b"%PDF-1.4 not editable")
    args = ["-v", "build", "--inbox", str(inbox), "--out", str(out), "--no-review", "--formats", "docx",
            *cli_args(run)]
    with SmtpServer(user="utkast", password=secret) as server:
        monkeypatch.setenv("UTKAST_SMTP_URL", f"smtp://utkast@127.0.0.1:{server.port}")
        monkeypatch.setenv("UTKAST_SMTP_PASSWORD", "fel-" + secret)  # a wrong password: login fails, mail waits
        code, wrong = run_cli(args)
        assert code == 0 and server.take() == [] and server.logins and not any(ok for _, ok in server.logins)
        assert "E-mail: 1 waiting" in wrong and "login failed" in wrong
        monkeypatch.setenv("UTKAST_SMTP_PASSWORD", secret)
        code, right = run_cli(args)
        (got,) = server.take()
    assert code == 0 and server.logins[-1] == ("utkast", True) and "E-mail: 1 sent." in right
    records = prefect_records()
    for text in (wrong, right, records, got.raw.decode("utf-8", "replace"), got.text):
        assert secret not in text
    assert find_token(out, secret) == [] and find_token(tmp_path, secret) == []


def test_a_receipt_carries_the_partners_own_page_link_where_the_links_key_is_at_hand(
        prefect_harness, tmp_path, monkeypatch, smtp):
    from tasks.portal.links import PARTNER, issue_link, load_key, personal_url
    from tasks.storage.local import LocalStorage

    run = at(mail_templates(tmp_path), date(2026, 5, 4))
    monkeypatch.setenv("UTKAST_PORTAL_KEY", "nyckel-för-e-posttestet-" + "y" * 24)
    monkeypatch.setenv("UTKAST_PORTAL_URL", "https://utkast.example.se")
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    token, _ = issue_link(LocalStorage(out), PARTNER, "myrorna", load_key())
    put(inbox, "myrorna/3.2 Länken.pdf", b"%PDF-1.4 a report nobody can edit")

    build(inbox, out, run)

    (got,) = smtp.take()
    assert personal_url("https://utkast.example.se", token) in got.text
    assert "använd den personliga länken i inbjudan" not in got.text
    rotated, _ = issue_link(LocalStorage(out), PARTNER, "myrorna", load_key(), rotate=True)
    put(inbox, "myrorna/3.3 Världen.pdf", b"%PDF-1.4 another one")
    build(inbox, out, run)
    (second,) = smtp.take()
    assert personal_url("https://utkast.example.se", rotated) in second.text and token not in second.text
    assert not any(token in p.read_text(encoding="utf-8", errors="replace")
                   for p in out.rglob("*") if p.is_file() and p.suffix in (".json", ".html", ".txt"))


def test_no_working_link_is_kept_anywhere_while_email_waits_or_after_it_went(
        prefect_harness, tmp_path, monkeypatch, capsys):
    """The outbox lies with the outputs: a leaked outputs folder must give no way in. The
    waiting messages hold a slot where the link goes; the link is made when the message is sent."""
    from flows.cli import main
    from tasks.portal.links import PARTNER, issue_link, load_key, personal_url
    from tests.conftest import ROOT
    from tasks.storage.local import LocalStorage

    run = at(mail_templates(tmp_path), date(2026, 5, 4))
    monkeypatch.setenv("UTKAST_PORTAL_KEY", "nyckel-för-länktestet-" + "z" * 24)
    monkeypatch.setenv("UTKAST_PORTAL_URL", "https://utkast.example.se")
    port = free_port()  # the SMTP server is down at first
    monkeypatch.setenv("UTKAST_SMTP_URL", f"smtp://127.0.0.1:{port}")
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    tokens = {slug: issue_link(LocalStorage(out), PARTNER, slug, load_key())[0]
              for slug in ("myrorna", "verdandi", "forum")}
    put(inbox, "myrorna/3.2 Länken.pdf", b"%PDF-1.4 not editable")
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nVerksamheten bygger på gemenskap och arbete.\n")
    put(inbox, "forum/3.1 Vägen.md", "# Vägen\n\nPraktiken leder vidare till arbete.\n")
    args = ["build", "--inbox", str(inbox), "--out", str(out), "--no-review", "--formats", "docx", *cli_args(run)]

    def files_holding_a_token() -> list[str]:
        places = [p for root in (tmp_path, ROOT / ".local") if root.is_dir() for p in root.rglob("*") if p.is_file()]
        return sorted(str(p) for p in places
                      if any(t.encode() in p.read_bytes() for t in tokens.values()))

    assert main(args) == 0
    assert {w["about"] for w in outbox_records(out, "waiting")} == {"myrorna", "verdandi", "forum"}
    assert files_holding_a_token() == []

    with SmtpServer(port=port) as server:
        assert main(args) == 0
        got = by_recipient(server.take())
    for slug, addresses in (("myrorna", ADDRESSES["myrorna"]), ("verdandi", ADDRESSES["verdandi"]),
                            ("forum", ADDRESSES["forum"])):
        (mail,) = got[addresses[0]]
        assert personal_url("https://utkast.example.se", tokens[slug]) in mail.text
        assert all(t not in mail.text for s, t in tokens.items() if s != slug)  # only their own link
    assert files_holding_a_token() == []
    capsys.readouterr()


# --- one message per partner and moment ----------------------------------------------------------


def test_a_review_that_outlasts_the_hold_follows_the_receipt_in_a_message_of_its_own(
        prefect_harness, tmp_path, smtp):
    templates = mail_templates(tmp_path)
    settings = templates / "settings.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("hold_receipt_seconds = 60",
                                                                     "hold_receipt_seconds = 0"), encoding="utf-8")
    run = at(templates, date(2026, 5, 4))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "forum/5.1 April.md", "# Avstämning\n\nMötet i april enades om kriterier.\n")
    build(inbox, out, run, review=True)  # the first run with e-mail on sends everything at its end
    assert [r.rcpt_tos for r in smtp.take()] == [ADDRESSES["forum"]]
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nVerksamheten bygger på gemenskap och arbete.\n")

    result = build(inbox, out, run, review=True)

    receipt, review = smtp.take()  # in this order: the receipt did not wait
    assert receipt.subject == "Mottagen: delrapport 4.2 från Verdandi"
    assert "Ni får ett meddelande när språkgranskningen av rapporten är klar." in receipt.text
    assert review.subject.startswith("Språkgranskning klar: delrapport 4.2 (")
    assert receipt.rcpt_tos == review.rcpt_tos == ADDRESSES["verdandi"]
    assert result["email"]["sent"] == 2


def test_reviewers_comments_reach_each_partner_once_when_harvested(prefect_harness, tmp_path, smtp):
    """The flow an upload on a reviewer's page starts (deployment comments-harvest): one
    message to each partner whose text got comments, none again, none from the next build."""
    from docx import Document

    from flows.roundtrip import harvest_comments
    from tests.builders import comment_on_words, track_insertion

    run = at(mail_templates(tmp_path), date(2026, 7, 20))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.md", "# Kvalitet i butiken\n\nMyrorna arbetar med kvalitetssäkring i alla "
                                          "butiker.\n\nVi mäter varje månad.\n")
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nVerksamheten bygger på gemenskap och arbete.\n")
    first = build(inbox, out, run)
    smtp.take()  # the receipts
    doc = Document(first["draft"]["docx"])
    comment_on_words(doc, "kvalitetssäkring i alla butiker", "Vad menas här?", "Maja Sund")
    comment_on_words(doc, "Vi mäter varje månad", "Hur då?", "Maja Sund")
    track_insertion(doc, "Verksamheten bygger", " främst", "Maja Sund")
    (inbox / "feedback/maja").mkdir(parents=True)
    doc.save(inbox / "feedback/maja/utkast med kommentarer.docx")

    done = harvest_comments(inbox=str(inbox), out=str(out), templates=run["templates"])

    assert done["counts"]["points"] == 3 and done["email"]["sent"] == 2
    got = by_recipient(smtp.take())
    assert set(got) == set(ADDRESSES["myrorna"]) | set(ADDRESSES["verdandi"])
    (myrorna,) = got["kansli@myrorna.test"]
    assert myrorna.subject == "Synpunkter från granskarna: 2 nya synpunkter på er text"
    assert ("De externa granskarna har lämnat 2 nya synpunkter på er text i utkastet: 2 synpunkter på delrapport "
            "1.3 ”Utmaningar och förbättringsförslag för kvalitetssäkring”.") in myrorna.text
    assert "Vad menas här?" not in myrorna.text  # what they say is on the partner's page, not in e-mail
    (verdandi,) = got[ADDRESSES["verdandi"][0]]
    assert verdandi.subject == "Synpunkter från granskarna: 1 ny synpunkt på er text"
    assert harvest_comments(inbox=str(inbox), out=str(out), templates=run["templates"])["email"]["sent"] == 0
    build(inbox, out, run)
    assert smtp.take() == []
