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

from tasks.core.config import TEMPLATES
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
    shutil.copytree(TEMPLATES, target)
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


def use(monkeypatch, templates: Path, today: date) -> None:
    """Run the flows with ``templates`` on the day ``today`` (reminders, tracker, reviewers)."""
    import tasks.core.config
    import tasks.notify.reminders

    monkeypatch.setattr(tasks.core.config, "TEMPLATES", templates)
    monkeypatch.setattr(tasks.notify.reminders, "today", lambda: today)


def build(inbox: Path, out: Path, **options):
    from flows.build import build_draft

    return build_draft(inbox=str(inbox), out=str(out), review=options.pop("review", False),
                       formats=options.pop("formats", ["docx"]), **options)


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
        prefect_harness, tmp_path, monkeypatch, smtp):
    use(monkeypatch, mail_templates(tmp_path), date(2026, 5, 4))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/3.2 Länken.pdf", b"%PDF-1.4 a report nobody can edit")

    result = build(inbox, out)

    (got,) = smtp.take()
    assert sorted(got.rcpt_tos) == sorted(ADDRESSES["myrorna"])
    assert got.message["To"] == ", ".join(ADDRESSES["myrorna"])
    assert got.subject == "Kunde inte tas emot: 3.2 Länken.pdf"
    assert got.message["Content-Language"] == "sv"
    assert "Filen ”3.2 Länken.pdf” i mappen för Myrorna för delrapport 3.2 kunde inte tas emot." in got.text
    assert "Varför: PDF-filer kan inte läsas in i det gemensamma utkastet" in got.text
    assert "Skicka rapporten som Word-dokument (.docx)" in got.text  # what to send instead
    assert "använd den personliga länken i inbjudan" in got.text
    assert not re.search(r"verdandi|stadsmission|forum", got.text, re.I)
    assert result["email"] == {"sent": 1, "waiting": 0, "failed": 0, "skipped": 0, "problem": None}

    again = build(inbox, out)
    assert smtp.take() == [] and again["email"]["sent"] == 0
    (sent,) = outbox_records(out, "sent")
    assert sent["about"] == "myrorna" and sent["to"] == ADDRESSES["myrorna"] and "body" not in sent
