"""docs/extending.md's four recipes work as written: each test copies the checkout to a temporary
folder, makes exactly the change the page shows (its code blocks, read from the page) in the
files it names, and shows the result working: a new accepted format, a new grammar rule, a new
e-mail notice, a new portal page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAGE = ROOT / "docs" / "extending.md"


def blocks(heading: str) -> list[str]:
    """The code blocks of the recipe under ``## heading``, in order."""
    section = PAGE.read_text(encoding="utf-8").split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\w+\n(.*?)```", section, re.S)


def checkout_copy(tmp_path: Path) -> Path:
    """The checkout's code, configuration and test helpers, copied (no outputs, no caches)."""
    copy = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("tasks", "flows", "templates", "tests"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=ignore)
    return copy


def insert(path: Path, text: str, *, after: str | None = None, before: str | None = None,
           start: str | None = None) -> None:
    """Put ``text`` into ``path`` right after (or before) the first ``after`` (``before``) that
    follows ``start``; the anchor must be there."""
    content = path.read_text(encoding="utf-8")
    origin = content.index(start) if start else 0
    anchor = after or before
    at = content.index(anchor, origin) + (len(anchor) if after else 0)
    path.write_text(content[:at] + text + content[at:], encoding="utf-8")


def run_in(copy: Path, code: str, env: dict | None = None) -> dict:
    """Run ``code`` with the copy's packages (not the checkout's); the JSON it printed last."""
    environ = dict(os.environ, PYTHONPATH=str(copy), DO_NOT_TRACK="1", **(env or {}))
    environ.pop("UTKAST_TEMPLATES", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=copy, env=environ, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def changed_files(copy: Path) -> list[str]:
    """The files of the copy that differ from the checkout's, or are new."""
    changed = []
    for path in copy.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(copy)
            if not (ROOT / rel).exists() or (ROOT / rel).read_bytes() != path.read_bytes():
                changed.append(rel.as_posix())
    return sorted(changed)


@pytest.mark.slow
def test_a_new_accepted_format_is_one_row(tmp_path):
    (row,) = blocks("A new accepted format")
    copy = checkout_copy(tmp_path)
    insert(copy / "tasks/core/formats.py", row, after='"html"),\n', start="ACCEPTED: tuple")
    assert changed_files(copy) == ["tasks/core/formats.py"]
    result = run_in(copy, f"""
import json, pathlib
from flows.cli import parser
from tasks.core.config import load_config
from tasks.intake.reasons import SEND_INSTEAD
from tasks.notify.messages import ACCEPTED_SV
from tasks.review.run import review_at_desk
from tests.builders import normalise_inbox, put

config, tmp = load_config(), pathlib.Path({str(tmp_path)!r})
put(tmp / "inbox", "verdandi/2.3 Validering.rst",
    "Validering\\n==========\\n\\nVi validerar kompetens *på riktigt* i alla butiker.\\n")
put(tmp / "inbox", "verdandi/2.4 Handledare.pdf", b"%PDF-1.4 not a report we can edit")
files, reports = normalise_inbox(tmp / "inbox", tmp / "out", config)
report = reports["verdandi/2.3"]
review = review_at_desk(tmp / "inbox" / "verdandi" / "2.3 Validering.rst", config)
sub = next(a for a in parser()._actions if a.dest == "command").choices["review"]
print(json.dumps({{"verdicts": {{f.key: f.verdict for f in files}}, "kind": report.kind, "title": report.title,
                  "markdown": (tmp / "out" / report.md_key).read_text(encoding="utf-8"),
                  "reason": [f.reason for f in files if f.verdict == "rejected"][0],
                  "receipt": ACCEPTED_SV, "help": [a.help for a in sub._actions if a.dest == "file"][0],
                  "reviewed": review.json["text"]}}))
""")
    assert result["verdicts"] == {"verdandi/2.3 Validering.rst": "accepted", "verdandi/2.4 Handledare.pdf": "rejected"}
    assert result["kind"] == "rst"
    assert "Vi validerar kompetens *på riktigt* i alla butiker." in result["markdown"]  # pandoc read it as rST
    assert result["reason"].endswith("Vi tar också emot .odt, .rtf, .md, .txt, .html och .rst.")
    assert result["receipt"].endswith(".txt, .html och reStructuredText (.rst)")
    assert result["help"].endswith(".html .rst")
    assert "Vi validerar kompetens på riktigt i alla butiker." in result["reviewed"]


@pytest.mark.slow
def test_a_new_grammar_rule_is_one_rule_in_the_rule_file(tmp_path, config):
    from tasks.review.checker import EmbeddedChecker, check_with_engine
    from tasks.review.settings import load_review_settings

    (rule,) = blocks("A new grammar rule")
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    insert(templates / "regler" / "grammatik.xml", rule, after='name="Särskrivning">\n',
           start='<category id="UTKAST_SARSKRIVNING"')
    checker = EmbeddedChecker(load_review_settings(templates, config.registry).tuning)
    try:
        engine = checker.engine()
        wrong, right = "Hon kom i från Göteborg.", "Hon kom ifrån Göteborg."
        found = [f for f in check_with_engine(engine, wrong) if f.rule_id == "UTK_IFRAN"]
        assert [(wrong[f.offset:f.offset + f.length], f.suggestions) for f in found] == [("i från", ["ifrån"])]
        assert "skrivs ihop" in found[0].message
        assert [f for f in check_with_engine(engine, right) if f.rule_id == "UTK_IFRAN"] == []
    finally:
        checker.close()


@pytest.mark.slow
def test_a_new_email_notice_is_a_message_and_when_it_is_due(tmp_path):
    message, due = blocks("A new e-mail notice")
    copy = checkout_copy(tmp_path)
    messages, run = copy / "tasks/notify/messages.py", copy / "tasks/notify/run.py"
    messages.write_text(messages.read_text(encoding="utf-8").rstrip("\n") + "\n\n\n" + message, encoding="utf-8")
    insert(run, "    all_received,\n", after="    accepted_receipt,\n", start="from tasks.notify.messages import (")
    insert(run, due, before="    return found\n", start="def partner_messages(")
    assert changed_files(copy) == ["tasks/notify/messages.py", "tasks/notify/run.py"]
    (copy / "templates/people.toml").write_text(  # configuration, not the recipe: a coordinator to tell
        '[coordinator]\nname = "Heidi Sandberg"\nemail = ["samordnare@example.se"]\n', encoding="utf-8")
    result = run_in(copy, f"""
import json, pathlib
from datetime import date
from tasks.core.config import load_config
from tasks.notify.run import after_intake
from tasks.storage.local import LocalStorage
from tests.builders import normalise_inbox, put
from tests.smtp_server import SmtpServer

config, tmp = load_config(), pathlib.Path({str(tmp_path)!r})
sent = {{}}
with SmtpServer() as server:
    environ = {{"UTKAST_SMTP_URL": server.url}}
    for round, pieces in (("some", list(config.outline.pieces)[:-1]), ("all", list(config.outline.pieces))):
        for piece in pieces:
            put(tmp / "inbox", f"verdandi/{{piece}} Rapport.md", f"# Rapport {{piece}}\\n\\nText om {{piece}}.\\n")
        files, reports = normalise_inbox(tmp / "inbox", tmp / "out", config)
        after_intake(LocalStorage(tmp / "out"), config, files, reports, {{}}, {{}}, {{}}, set(), date(2026, 5, 4),
                     environ=environ)
        sent[round] = [(r.subject, r.rcpt_tos, r.text) for r in server.take() if "samordnare@example.se" in r.rcpt_tos]
    files, reports = normalise_inbox(tmp / "inbox", tmp / "out", config)
    after_intake(LocalStorage(tmp / "out"), config, files, reports, {{}}, {{}}, {{}}, set(), date(2026, 5, 5),
                 environ=environ)
    sent["again"] = [r.subject for r in server.take() if "samordnare@example.se" in r.rcpt_tos]
print(json.dumps(sent))
""")
    assert result["some"] == []  # one piece still missing: nothing for the coordinator
    ((subject, to, text),) = result["all"]
    assert subject == "Alla 17 delrapporter har kommit in" and to == ["samordnare@example.se"]
    assert "Nu har alla 17 delrapporter" in text and "Heidi Sandberg" in text
    assert result["again"] == []  # once: the outbox knows it was sent


def test_a_new_portal_page_is_a_handler_a_route_and_a_template(tmp_path):
    handler, route, template = blocks("A new portal page")
    copy = checkout_copy(tmp_path)
    insert(copy / "tasks/portal/app.py", handler + "\n\n", before="ROUTES = [")
    insert(copy / "tasks/portal/app.py", route, after='Route("/l/{token}/", personal),\n', start="ROUTES = [")
    (copy / "templates/portal/hjalp.html.j2").write_text(template, encoding="utf-8")
    assert changed_files(copy) == ["tasks/portal/app.py", "templates/portal/hjalp.html.j2"]
    result = run_in(copy, f"""
import asyncio, json, pathlib
import httpx
from tasks.core.config import load_config
from tasks.portal.app import create_app
from tasks.portal.links import PARTNER, issue_link, load_key
from tasks.storage.local import LocalStorage

tmp = pathlib.Path({str(tmp_path)!r})
(tmp / "inbox").mkdir()
out = LocalStorage(tmp / "outputs")
token, _ = issue_link(out, PARTNER, "myrorna", load_key())
app = create_app(LocalStorage(tmp / "inbox"), out, load_config())

async def get(path):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        answer = await client.get(path)
        return {{"status": answer.status_code, "text": answer.text, "csp": answer.headers.get("content-security-policy")}}

print(json.dumps({{"page": asyncio.run(get(f"/l/{{token}}/hjalp")), "wrong": asyncio.run(get("/l/" + "x" * 43 + "/hjalp")),
                  "token": token}}))
""", env={"UTKAST_PORTAL_KEY": "nyckel-för-recepttestet-" + "x" * 24})
    page = result["page"]
    assert page["status"] == 200 and page["csp"]
    assert "<h1>Så lämnar ni en delrapport</h1>" in page["text"] and 'lang="sv"' in page["text"]
    assert "även .odt, .rtf, .md, .txt och .html går bra" in page["text"]
    assert result["token"] not in page["text"]
    assert result["wrong"]["status"] == 404 and "Sidan finns inte" in result["wrong"]["text"]
