"""E-mail on the coordinator's running stack (scripts/stack.py, its own folder and ports), with
a real SMTP server on 127.0.0.1 that the stack's worker and the terminal both send to:

- `utkast invite` and `utkast build` typed in a terminal link to the port the stack's portal
  really got (not 8080), and the e-mailed link opens the partner's page;
- `utkast status` and `stack status` say that uploads are read as they arrive;
- a reviewer's upload on their page starts the comments-harvest deployment, and the partner
  whose text got comments gets one e-mail whose link opens a page that shows them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docx import Document

from tests.builders import comment_on_words, put
from tests.portal_server import get, upload
from tests.smtp_server import SmtpServer
from tests.stacks import api_settings, free_port, private_base, running_stack, wait_for
from tests.test_email_flow import ADDRESSES, by_recipient, with_addresses

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
KEY = "nyckel-för-e-poststacken-" + "q" * 24
LINK = re.compile(r"https?://[^\s/]+/l/[A-Za-z0-9_-]{43}/")
UTKAST = str(Path(sys.executable).parent / "utkast")


@pytest.fixture(scope="module")
def stack():
    base = private_base("utkast-mail-stack-")
    home = base / "utkast"
    with SmtpServer() as smtp:
        extra = {"UTKAST_SMTP_URL": smtp.url, "UTKAST_PORTAL_KEY": KEY, "UTKAST_TEMPLATES": str(home / "templates")}
        with running_stack(base, workers=1, postgres=False, env_extra=extra, portal_port=free_port()) as info:
            with_addresses(home / "templates")
            with api_settings(info):
                stop_the_schedule(info)
            yield {**info, "smtp": smtp, "extra": extra}


def stop_the_schedule(stack: dict) -> None:
    """No inbox-watch run on the stack's inbox while the tests work in it, scheduled or started
    by a file's arrival (the stack's `utkast watch` sees the tests' files; its run, 20 s later,
    told the partner first when the terminal's build was slow): the terminal's build is the
    one that tells the partner. A run already under way is waited for."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
    from prefect.client.schemas.filters import FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        watch = client.read_deployment_by_name("intake/inbox-watch")
        for schedule in client.read_deployment_schedules(watch.id):
            client.update_deployment_schedule(watch.id, schedule.id, active=False)
        for run in client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[watch.id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.SCHEDULED])))):
            client.delete_flow_run(run.id)
        automations = client.read_automations_by_name("inbox-watch on inbox.file.arrived")
        assert automations, "the inbox-watch trigger (prefect.yaml) was not found on the stack"
        for automation in automations:
            client.pause_automation(automation.id)

        def watch_runs_under_way() -> bool:
            return not client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[watch.id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.PENDING, StateType.RUNNING]))))

        wait_for("the inbox-watch runs under way to end", watch_runs_under_way)


@pytest.fixture(scope="module")
def terminal(stack, tmp_path_factory):
    """A coordinator's terminal in the stack's checkout: no Prefect variable set; the
    checkout's .local/stack.json names the running stack."""
    home = stack["home"]
    (home / ".local").mkdir(exist_ok=True)
    (home / ".local" / "stack.json").write_text((stack["base"] / "stack.json").read_text(encoding="utf-8"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "UTKAST_"))}
    env.update(UTKAST_HOME=str(home), PREFECT_HOME=str(tmp_path_factory.mktemp("terminal-prefect")),
               DO_NOT_TRACK="1", **stack["extra"])

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([UTKAST, *args], cwd=home, env=env, capture_output=True, text=True, timeout=600)

    try:
        yield run
    finally:
        (home / ".local" / "stack.json").unlink()


def links_in(text: str) -> list[str]:
    return LINK.findall(text)


def test_an_email_sent_from_a_terminal_links_to_the_port_the_stacks_portal_has(stack, terminal):
    home, portal = stack["home"], stack["portal_url"]
    assert not portal.endswith(":8080")
    invite = terminal("invite", "myrorna", "--out", str(home / "outputs"))
    assert invite.returncode == 0, invite.stderr
    assert invite.stdout.splitlines()[1].startswith(f"{portal}/l/")
    put(home / "inbox", "myrorna/1.3 Kvalitet.md", "# Kvalitet i butiken\n\nMyrorna arbetar med kvalitetssäkring i "
                                                   "alla butiker.\n\nVi mäter varje månad.\n")

    built = terminal("build", "--inbox", str(home / "inbox"), "--out", str(home / "outputs"), "--no-review",
                     "--formats", "docx")

    assert built.returncode == 0, built.stdout + built.stderr
    assert "temporary server" not in built.stdout + built.stderr
    # The receipt, and from [schedule] review_from on the new draft to the reviewer.
    assert re.search(r"^E-mail: [12] sent\.$", built.stdout, re.M), built.stdout
    got = by_recipient(stack["smtp"].take())
    (receipt,) = got[ADDRESSES["myrorna"][0]]
    assert receipt.rcpt_tos == ADDRESSES["myrorna"] and receipt.subject == "Mottagen: delrapport 1.3 från Myrorna"
    (link,) = links_in(receipt.text)
    assert link == invite.stdout.splitlines()[1]
    page = get(link)
    assert page.status == 200 and "Myrorna" in page.text and "1.3" in page.text


def test_the_coordinator_sees_that_uploads_are_read_as_they_arrive(stack, terminal):
    status = terminal("status", "--out", str(stack["home"] / "outputs"))
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("Uploads: uploads are read as they arrive (intake/inbox-watch, "
                                    "harvest_comments/comments-harvest on ")
    done = subprocess.run([*stack["command"], "status"], env=stack["env"], capture_output=True, text=True,
                          timeout=60)
    assert "Uploads:    uploads are read as they arrive" in done.stdout, done.stdout
    portal_log = (Path(stack["logs"]) / "portal.log").read_text(encoding="utf-8", errors="replace")
    assert "portal: uploads are read as they arrive" in portal_log


def test_comments_uploaded_on_a_reviewers_page_reach_the_partner_by_email_at_once(stack, terminal):
    from prefect.client.orchestration import get_client

    home, smtp = stack["home"], stack["smtp"]
    invite = terminal("invite", "--reviewer", "Åsa Öberg", "--out", str(home / "outputs"))
    assert invite.returncode == 0, invite.stderr
    reviewer_page = invite.stdout.splitlines()[1]
    latest = json.loads((home / "outputs/drafts/latest.json").read_text(encoding="utf-8"))
    doc = Document(home / "outputs" / latest["formats"]["docx"])
    comment_on_words(doc, "kvalitetssäkring i alla butiker", "Vad menas med kvalitetssäkring här?", "Åsa Öberg")
    comment_on_words(doc, "Vi mäter varje månad", "Hur mäter ni?", "Åsa Öberg")
    path = home.parent / "kommenterat.docx"
    doc.save(path)
    smtp.take()

    assert upload(reviewer_page, "utkast med kommentarer.docx", path.read_bytes()).status == 303
    started = time.monotonic()
    seen = []

    def comments_told() -> list:
        seen.extend(smtp.take())
        return [r for r in seen if r.subject.startswith("Synpunkter")]

    (told,) = wait_for("the partner's e-mail about the comments", comments_told, timeout=600, every=2)
    print(f"upload -> partner's e-mail: {time.monotonic() - started:.0f} s")
    assert told.rcpt_tos == ADDRESSES["myrorna"]
    assert told.subject == "Synpunkter från granskarna: 2 nya synpunkter på er text"
    assert told.message["Reply-To"] == "heidi.sandberg@samordning.test"
    (link,) = links_in(told.text)
    assert link.startswith(stack["portal_url"]) and "Länken är personlig" in told.text
    page = get(link)
    assert page.status == 200 and "Vad menas med kvalitetssäkring här?" in page.text and "Hur mäter ni?" in page.text
    with api_settings(stack), get_client(sync_client=True) as client:
        harvest = client.read_deployment_by_name("harvest_comments/comments-harvest")
        runs = [r for r in client.read_flow_runs() if r.deployment_id == harvest.id]
    assert [r.state.type.value for r in runs] == ["COMPLETED"]
    # The same event also starts inbox-watch: its intake reviews the report the terminal's build
    # left unreviewed (--no-review) and says so; nobody hears of the comments again.
    time.sleep(30)
    others = [r.subject for r in [*seen, *smtp.take()] if r is not told]
    assert all(s.startswith("Språkgranskning klar: delrapport 1.3 (") for s in others), others
