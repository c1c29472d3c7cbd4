"""E-mail as plain functions: the Swedish messages, the outbox's decisions (once only, never
lost), reminders by date, the SMTP settings from the environment; file names and names in
capitals masked."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from tasks.core.config import default_templates, load_config
from tasks.notify.messages import (
    LINK_SLOT,
    Contact,
    accepted_receipt,
    failed_run,
    new_draft,
    rejected_receipt,
    reminder,
    review_ready,
    with_link,
    without_secrets,
)
from tasks.notify.outbox import Outbox
from tasks.notify.reminders import reminders_due
from tasks.notify.smtp import SendProblem, email_message, smtp_target
from tasks.personal.detect import detect
from tasks.personal.filenames import mask_in_text, mask_key
from tasks.personal.mask import mask_ast
from tasks.personal.rules import load_rules
from tasks.storage.local import LocalStorage

CONTACT = Contact("Heidi Sandberg", "heidi.sandberg@samordning.test", "Utveckla second hand")
MYRORNA = dict(partner="myrorna", partner_name="Myrorna", to=["kansli@myrorna.test"], contact=CONTACT)


@pytest.fixture(scope="module")
def rules(config):
    return load_rules(config.templates, config.registry)


# --- the messages ---------------------------------------------------------------------------


def test_a_receipt_names_the_piece_and_points_to_the_partners_page_or_the_invitation():
    common = dict(**MYRORNA, key="myrorna/1.3 Kvalitet.docx", content="ab12", name="1.3 Kvalitet.docx", piece="1.3",
                  piece_title="Utmaningar och förbättringsförslag för kvalitetssäkring")
    kept = accepted_receipt(**common)
    assert LINK_SLOT in kept.body and "https://" not in kept.body  # the outbox keeps no link
    without = with_link(kept, None)
    assert without.subject == "Mottagen: delrapport 1.3 från Myrorna"
    assert "Den används som delrapport 1.3 ”Utmaningar och förbättringsförslag för kvalitetssäkring”." in without.body
    assert "använd den personliga länken i inbjudan ni har fått från samordnaren" in without.body
    assert "Heidi Sandberg, heidi.sandberg@samordning.test" in without.body
    link = "https://utkast.example.org/p/myrorna/abc"
    longer = with_link(accepted_receipt(**common, version=2, pages=4.2, personal="2 namn, 1 personnummer"), link)
    assert f"Er sida, med era rapporter, granskningar och besked: {link}" in longer.body
    assert "version 2. Den ersätter den tidigare versionen." in longer.body
    assert "ungefär 4,2 sidor lång; beställt är 2–3 sidor" in longer.body
    assert "personuppgifter (2 namn, 1 personnummer)" in longer.body
    # The same file and content: the same message, whatever else changed; new content: a new one.
    assert longer.id == without.id and accepted_receipt(**{**common, "content": "cd34"}).id != without.id


def test_a_rejection_says_why_and_what_to_send_instead():
    message = rejected_receipt(**MYRORNA, key="myrorna/3.2 Länken.pdf", content="ff", reason_code="unsupported_format",
                               name="3.2 Länken.pdf", reason="PDF-filer kan inte läsas in.", piece="3.2")
    assert message.subject == "Kunde inte tas emot: 3.2 Länken.pdf"
    assert "Varför: PDF-filer kan inte läsas in." in message.body
    assert "Vi tar emot Word (.docx, helst), OpenDocument (.odt), .rtf, .md, .txt och .html." in message.body
    masked = rejected_receipt(**MYRORNA, key="myrorna/x", content="ff", reason_code="corrupt",
                              name="2.1 Intervju [personnummer borttaget].pdf", reason="Skadad.", name_masked=True)
    assert "Filnamnet innehåller personuppgifter och visas därför maskerat" in masked.body


def test_review_ready_counts_the_points_in_swedish():
    common = dict(**MYRORNA, piece="1.3", piece_title="Kvalitet", content="ab")
    one = review_ready(**common, findings=1, by_severity={"fel": 1})
    many = review_ready(**common, findings=5, by_severity={"fel": 2, "varning": 3, "tips": 0})
    none = review_ready(**common, findings=0)
    assert one.subject == "Språkgranskning klar: delrapport 1.3 (1 påpekande)"
    assert "är klar: 5 påpekanden (2 fel, 3 varningar)." in many.body
    assert none.subject.endswith("(inga påpekanden)") and "hittade inget att påpeka" in none.body
    assert one.id == many.id  # one notice per report content, however often it is reviewed


def test_reminders_before_the_date_and_when_late():
    common = dict(**MYRORNA, piece="1.3", piece_title="Kvalitet", due=date(2026, 6, 30))
    soon = reminder(**common, stage="before", today=date(2026, 6, 23))
    today = reminder(**common, stage="before", today=date(2026, 6, 30))
    late = reminder(**common, stage="late", today=date(2026, 7, 2))
    assert soon.subject == "Påminnelse: delrapport 1.3 ska lämnas senast 30 juni 2026"
    assert "alltså om 7 dagar" in soon.body and "alltså i dag" in today.body
    assert late.subject == "Försenad: delrapport 1.3 skulle ha lämnats 30 juni 2026"
    assert soon.id == today.id != late.id


def test_a_new_draft_lists_the_changes_and_only_links_anyone_can_open():
    message = with_link(new_draft(
        reviewer="Åsa Öberg", to=["asa@granskning.test"], version="20260803-020000-abc123",
        created_sv="3 augusti 2026 kl. 02.00", title="Redovisningsunderlag", previous="20260802-1",
        changes=["Ny: 1.3 Kvalitet (Myrorna, version 1)"], summary="delrapporter: 1 ny",
        links={"Word": "https://s3.example/utkast.docx?X-Amz-Signature=1"}, contact=CONTACT), None)
    assert message.body.startswith("Hej Åsa Öberg!")
    assert "Ändringar sedan förra utkastet (20260802-1), delrapporter: 1 ny:\n- Ny: 1.3 Kvalitet" in message.body
    assert "- Word: https://s3.example/utkast.docx?X-Amz-Signature=1" in message.body
    assert "använd den personliga länken i din inbjudan" in message.body


def test_a_failed_run_message_holds_no_secret(monkeypatch, rules):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG")
    problem = ("StorageError: could not write s3://u:pa55word@host/outputs with wJalrXUtnFEMI/K7MDENG; "
               "myrorna/1.1 Översikt 19850101-2382.docx")
    text = mask_in_text(without_secrets(problem), rules)
    assert "pa55word" not in text and "wJalrXUtnFEMI" not in text and "19850101-2382" not in text
    assert "s3://host/outputs" in text and "[personnummer borttaget]" in text
    message = failed_run(run_id="1", flow="build_draft", run_name="nightly-fox", when_sv="3 augusti 2026",
                         problem=text, to=["c@x.test"], ui_link=None, contact=CONTACT)
    assert message.subject == "Körningen misslyckades: bygge av utkast (nightly-fox)"


def test_the_email_is_utf8_swedish_with_the_stable_id_as_message_id():
    message = reminder(**MYRORNA, piece="1.3", piece_title="Kvalitet", due=date(2026, 6, 30), stage="late",
                       today=date(2026, 7, 1))
    mail = email_message(message, "Utkast <utkast@samordning.test>")
    assert mail["Message-ID"] == f"<{message.id}@samordning.test>"
    assert mail["Content-Language"] == "sv" and mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_charset() == "utf-8" and "Försenad" in mail["Subject"]


# --- the outbox -----------------------------------------------------------------------------


class Recorder:
    """Stands in for the SMTP server in these unit tests of the outbox alone (the real one is
    in tests/test_email_flow.py): takes messages, or fails as told."""

    def __init__(self, fail: SendProblem | None = None, fail_for: set[str] | None = None):
        self.sent, self.fail, self.fail_for, self.closed = [], fail, fail_for, False

    def send(self, message):
        if self.fail and (self.fail_for is None or message.about in self.fail_for):
            raise self.fail
        self.sent.append(message.id)

    def close(self):
        self.closed = True


def _messages():
    common = dict(piece="1.3", piece_title="Kvalitet", due=date(2026, 6, 30), stage="late", today=date(2026, 7, 1),
                  contact=CONTACT)
    return [reminder(partner=slug, partner_name=slug.title(), to=[f"{slug}@x.test"], **common)
            for slug in ("myrorna", "verdandi", "forum")]


def test_the_outbox_sends_each_message_once(tmp_path):
    out = LocalStorage(tmp_path)
    outbox = Outbox(out)
    first = _messages()
    for m in first:
        outbox.put(m, now=1.0)
    server = Recorder()
    done = Outbox(out).deliver(server, now=2.0)
    assert sorted(done.sent) == sorted(m.id for m in first) and server.closed
    assert Outbox(out).deliver(Recorder()).sent == []
    assert all(Outbox(out).knows(m.id) for m in first)
    sent = json.loads((tmp_path / f"notify/sent/{first[0].id}.json").read_text(encoding="utf-8"))
    assert sent["state"] == "sent" and sent["attempts"] == 1 and "body" not in sent


def test_an_unreachable_server_leaves_every_message_waiting_untried(tmp_path):
    out = LocalStorage(tmp_path)
    for m in _messages():
        Outbox(out).put(m)
    server = Recorder(SendProblem("could not reach smtp://127.0.0.1:1: Connection refused"))
    done = Outbox(out).deliver(server)
    assert done.sent == [] and done.waiting == 3 and "Connection refused" in done.problem
    assert done.line() == ("E-mail: 3 waiting (could not reach smtp://127.0.0.1:1: Connection refused); "
                           "they go out on the next run.")
    records = Outbox(out).waiting()
    assert [r["attempts"] for r in records].count(1) == 1  # only the first was tried
    assert all(r["last_error"] and not r["attempt_started"] for r in records)
    assert len(Outbox(out).deliver(Recorder()).sent) == 3


def test_a_message_refused_for_good_is_set_aside_and_the_others_go(tmp_path):
    out = LocalStorage(tmp_path)
    for m in _messages():
        Outbox(out).put(m)
    refused = SendProblem("every recipient refused (550)", lasting=True, whole_server=False)
    done = Outbox(out).deliver(Recorder(refused, fail_for={"verdandi"}))
    assert len(done.sent) == 2 and done.failed == 1 and done.waiting == 0
    assert [p.name for p in (tmp_path / "notify/failed").iterdir()] and not Outbox(out).waiting()


def test_no_server_keeps_messages_waiting(tmp_path):
    out = LocalStorage(tmp_path)
    Outbox(out).put(_messages()[0])
    done = Outbox(out).deliver(None, "no SMTP server is set")
    assert done.waiting == 1 and done.line_sv().startswith("E-post: 1 väntar (no SMTP server is set)")


def test_a_message_recorded_both_waiting_and_sent_counts_as_sent(tmp_path):
    out = LocalStorage(tmp_path)
    message = _messages()[0]
    Outbox(out).put(message)
    Outbox(out).deliver(Recorder())
    Outbox(out).put(message)  # as if the run was killed before deleting the waiting record
    assert Outbox(out).deliver(Recorder()).sent == []
    assert not (tmp_path / f"notify/waiting/{message.id}.json").exists()


def test_the_baseline_is_known_and_never_sent(tmp_path):
    out = LocalStorage(tmp_path)
    old, new = _messages()[:2]
    outbox = Outbox(out)
    assert not outbox.started
    outbox.start([old.id])
    again = Outbox(out)
    assert again.started and again.knows(old.id) and not again.knows(new.id)


# --- reminders ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def commissioned(tmp_path_factory):
    templates = tmp_path_factory.mktemp("templates")
    shutil.copytree(default_templates(), templates, dirs_exist_ok=True)
    path = templates / "outline.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('id = "1.3"\n', 'id = "1.3"\n  commissioned = ["myrorna", "verdandi"]\n', 1)
    text = text.replace('id = "5.1"\n', 'id = "5.1"\n  commissioned = ["forum"]\n', 1)
    path.write_text(text, encoding="utf-8")
    return load_config(templates)


@pytest.mark.parametrize("today, expected", [
    (date(2026, 4, 22), []),  # 8 days before 5.1's date (30 April): too early
    (date(2026, 4, 23), [("forum", "5.1", "before")]),
    (date(2026, 4, 30), [("forum", "5.1", "before")]),  # the day itself
    (date(2026, 5, 1), [("forum", "5.1", "late")]),
    (date(2026, 6, 25), [("myrorna", "1.3", "before"), ("forum", "5.1", "late")]),  # Verdandi delivered 1.3
    (date(2026, 7, 1), [("myrorna", "1.3", "late"), ("forum", "5.1", "late")]),
])
def test_reminders_are_due_for_commissioned_pieces_not_delivered(commissioned, today, expected):
    due = reminders_due(commissioned, {"verdandi/1.3", "stadsmissionen/5.1"}, today)
    assert [(r.partner, r.piece, r.stage) for r in due] == expected


def test_without_commissions_nobody_is_reminded(config):
    assert reminders_due(config, set(), date(2026, 8, 1)) == []


def test_the_tracker_shows_due_dates_and_late_pieces(commissioned, tmp_path):
    from tasks.intake.tracker import build_tracker, render_tracker_html, tracker_table

    tracker = build_tracker([], {}, commissioned, today=date(2026, 5, 2))
    rows = {row[0]: row for row in tracker_table(tracker)}
    assert rows["5.1"][3:5] == ["Forum: saknas", "30 april 2026, försenad"]
    assert rows["1.3"][3:5] == ["Myrorna: saknas; Verdandi: saknas", "30 juni 2026"]
    assert tracker["late"] == ["5.1"]
    html = render_tracker_html(tracker, commissioned, LocalStorage(tmp_path))
    assert "5.1 Avstämningsmöte april (saknas från Forum) – senast 30 april 2026 <span class=\"late\">försenad</span>" \
        in html


# --- the SMTP settings ------------------------------------------------------------------------


def test_the_server_comes_from_the_environment_and_the_password_only_from_it(config):
    email = config.settings.email
    assert smtp_target(email, {}) is None  # no server anywhere: e-mail is not on
    target = smtp_target(email, {"UTKAST_SMTP_URL": "smtps://utkast@mail.example.org:465",
                                 "UTKAST_SMTP_PASSWORD": "s3cret"})
    assert (target.scheme, target.host, target.port, target.user, target.password) == \
        ("smtps", "mail.example.org", 465, "utkast", "s3cret")
    assert target.describe() == "smtps://mail.example.org:465" and "s3cret" not in repr(target)
    assert smtp_target(email, {"UTKAST_SMTP_URL": "smtp://127.0.0.1"}).port == 25
    with pytest.raises(ValueError, match="UTKAST_SMTP_URL must look like"):
        smtp_target(email, {"UTKAST_SMTP_URL": "http://mail.example.org"})


def test_addresses_due_dates_and_reviewers_change_neither_screening_nor_the_draft(tmp_path, config):
    from tasks.draft.manifest import templates_digest

    shutil.copytree(default_templates(), tmp_path, dirs_exist_ok=True)
    edits = {"partners.toml": ('slug = "forum"\n', 'slug = "forum"\nemail = ["g@forum.test"]\n'),
             "outline.toml": ("due = 2026-04-30", "due = 2026-04-20"),
             "settings.toml": ("remind_days_before = 7", "remind_days_before = 3"),
             "people.toml": ('email = []', 'email = ["heidi@x.test"]')}
    for name, (old, new) in edits.items():
        path = tmp_path / name
        path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    changed = load_config(tmp_path)
    assert changed.people.coordinator.email == ("heidi@x.test",)
    assert changed.fingerprint == config.fingerprint and templates_digest(changed) == templates_digest(config)
    path = tmp_path / "settings.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("max_pages = 3", "max_pages = 4"), encoding="utf-8")
    assert load_config(tmp_path).fingerprint != config.fingerprint


# --- nothing personal in file names, names in capitals -------------------------------------------


@pytest.mark.parametrize("key, shown", [
    ("myrorna/1.1 Översikt 19850101-2382.docx", "myrorna/1.1 Översikt [personnummer borttaget].docx"),
    ("myrorna/1.1_Översikt_198501012382.docx", "myrorna/1.1_Översikt_[personnummer borttaget].docx"),
    ("myrorna/1.1-översikt-850101-2382.md", "myrorna/1.1-översikt-[personnummer borttaget].md"),
    ("verdandi/4.2 Intervju 070-123 45 67.txt", "verdandi/4.2 Intervju [telefonnummer borttaget].txt"),
    ("forum/5.1 Deltagaren Karin Ek.docx", "forum/5.1 Deltagaren [namn borttaget].docx"),
    ("forum/5.1 DELTAGAREN KARIN EK intervju.docx", "forum/5.1 DELTAGAREN [namn borttaget] intervju.docx"),
    # not personal data: dates, piece numbers, organisations, amounts
    ("myrorna/1.3 Kvalitet 2026-05-12.docx", "myrorna/1.3 Kvalitet 2026-05-12.docx"),
    ("myrorna/P1.3-kvalitet v2.docx", "myrorna/P1.3-kvalitet v2.docx"),
    ("coompanion/3.2 ESF och SKL 1 500 000 kr.docx", "coompanion/3.2 ESF och SKL 1 500 000 kr.docx"),
])
def test_file_names_are_scanned_like_text(rules, key, shown):
    assert mask_key(key, rules) == shown


def test_a_name_found_in_the_report_is_masked_in_its_file_name_too(rules):
    from tasks.personal.detect import Detector

    assert mask_key("myrorna/1.2 Intervju Anna Svensson.docx", rules) == "myrorna/1.2 Intervju Anna Svensson.docx"
    detector = Detector(rules, {"Anna Svensson"})
    assert mask_key("myrorna/1.2 Intervju Anna Svensson.docx", rules, detector) == \
        "myrorna/1.2 Intervju [namn borttaget].docx"


@pytest.mark.parametrize("text, names", [
    ("DELTAGAREN ANNA SVENSSON började hos oss i mars.", ["ANNA SVENSSON"]),
    ("Vi träffade deltagaren ANNA SVENSSON på Myrorna i Växjö.", ["ANNA SVENSSON"]),
    ("Praktikanten OMAR AL-HASSAN, som kom i april, arbetar i lagret.", ["OMAR AL-HASSAN"]),
    ("Deltagare 3: KARIN MARIA EK berättade om sin väg.", ["KARIN MARIA EK"]),
    # not names: acronyms, organisations, shouting, a single word in capitals
    ("Deltagarna i ESF-projektet och SKL:s nätverk.", []),
    ("deltagaren AF hjälpte oss med matchningen", []),
    ("DELTAGARNA FICK STÖD AV HANDLEDARNA.", []),
    ("DELTAGARNA KOMMER FRÅN HELA LANDET.", []),
    ("Deltagarna på MYRORNA och RÖDA KORSET.", []),
    ("Praktikanten OMAR berättar.", []),
])
def test_names_in_capitals_after_a_marker(rules, text, names):
    assert [m.value for m in detect(text, rules) if m.kind == "namn"] == names


def test_a_name_in_capitals_is_masked_everywhere_in_the_report_also_written_normally(rules):
    ast = {"pandoc-api-version": [1, 23, 1], "meta": {}, "blocks": [
        {"t": "Para", "c": [{"t": "Str", "c": w} if w != " " else {"t": "Space"}
                           for w in _tokens("DELTAGAREN ANNA SVENSSON började i mars.")]},
        {"t": "Para", "c": [{"t": "Str", "c": w} if w != " " else {"t": "Space"}
                           for w in _tokens("Anna Svensson säger att Annas dag är lång. ESF stöttar.")]}]}
    masked, findings, _ = mask_ast(json.dumps(ast), rules)
    text = json.dumps(json.loads(masked), ensure_ascii=False)
    assert "ANNA" not in text and "Svensson" not in text and "Annas" not in text and "ESF" in text
    assert [f.value for f in findings] == ["ANNA SVENSSON", "Anna Svensson", "Annas"]


def _tokens(text: str) -> list[str]:
    out = []
    for i, word in enumerate(text.split(" ")):
        if i:
            out.append(" ")
        out.append(word)
    return out


def test_the_tracker_and_manifest_show_file_names_masked(config, tmp_path):
    from tasks.intake.inbox import write_rejections
    from tasks.intake.tracker import build_tracker
    from tasks.personal.filenames import shown_keys
    from tests.builders import normalise_inbox, put

    inbox = tmp_path / "inbox"
    put(inbox, "myrorna/2.1 Intervju 19850101-2382.pdf", b"%PDF-1.4 x")
    files, reports = normalise_inbox(inbox, tmp_path / "out", config)
    rules = load_rules(config.templates, config.registry)
    shown = shown_keys([f.key for f in files], rules)
    tracker = build_tracker(files, reports, config, shown=shown)
    out = LocalStorage(tmp_path / "out")
    write_rejections(out, files, config, {}, shown)
    text = json.dumps(tracker, ensure_ascii=False)
    assert "19850101-2382" not in text and "2.1 Intervju [personnummer borttaget].pdf" in text
    note = Path(tmp_path / "out/rejected/myrorna/2.1 Intervju [personnummer borttaget].pdf.txt")
    assert "Fil: 2.1 Intervju 19850101-2382.pdf" in note.read_text(encoding="utf-8")  # the partner's own note
