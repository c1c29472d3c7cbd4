"""The coordinator's Prefect stack for real: `scripts/stack.py up` starts a Prefect server on
127.0.0.1, deploys prefect.yaml with the CLI and starts a process worker; the tests then use
the API the way the UI does. One server for the whole module; everything stopped by PID.

The stack runs from a copy of this checkout (UTKAST_HOME) without the sample inbox, so the
scheduled runs of the deployments touch only temporary folders.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scripts.stack import read_env_file
from tests.builders import make_docx, put
from tests.conftest import ROOT
from tests.faults import ended
from tests.stacks import free_port, stack_down, wait_for
from tests.test_artifacts import LINK

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _soon(check, seconds: float) -> bool:
    """Whether ``check`` becomes true within ``seconds`` (polled every two seconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(2)
    return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("stack")
    home = base / "utkast"
    shutil.copytree(ROOT, home, ignore=shutil.ignore_patterns(
        ".venv", ".git", "outputs", "inbox", ".local", "__pycache__", ".pytest_cache", "*.egg-info", "bench-results"))
    (home / "inbox").mkdir()
    state = base / "stack.json"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    command = [sys.executable, str(ROOT / "scripts" / "stack.py"), "--port", str(port), "--home", str(home),
               "--state", str(state), "--prefect-home", str(base / "prefect"), "--portal-port", str(free_port())]
    up = subprocess.run([*command, "up"], env=env, capture_output=True, text=True, timeout=900)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"Prefect UI:  http://127.0.0.1:{port}" in up.stdout
        assert "Portal:      http://127.0.0.1:" in up.stdout
        info = json.loads(state.read_text(encoding="utf-8"))
        auth = read_env_file(base / "prefect.env")["PREFECT_API_AUTH_STRING"]
        yield {**info, "home": home, "base": base, "command": command, "env": env, "auth": auth}
    finally:
        stack_down(command, env, timeout=120)
        assert not state.exists()


@pytest.fixture
def api(stack):
    """Prefect settings pointing at the stack's server (for the client in this process)."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: stack["api_url"], PREFECT_API_AUTH_STRING: stack["auth"]}):
        yield stack


def _deployment(client, name: str):
    return client.read_deployment_by_name(name)


def test_the_three_deployments_are_there_as_designed(api):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        watch = _deployment(client, "intake/inbox-watch")
        nightly = _deployment(client, "build_draft/nightly-draft")
        on_demand = _deployment(client, "build_draft/draft-on-demand")
        automations = client.read_automations_by_name("inbox-watch on inbox.file.arrived")

    assert watch.global_concurrency_limit.limit == 2  # one reads, the next waits for the lock
    assert [s.schedule.interval for s in watch.schedules] == [timedelta(minutes=5)]
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("0 2 * * *", "Europe/Stockholm")]
    assert on_demand.schedules == []
    assert {d.work_pool_name for d in (watch, nightly, on_demand)} == {"utkast"}
    form = on_demand.parameter_openapi_schema["properties"]
    assert form["formats"]["anyOf"][0]["items"]["enum"] == ["docx", "pdf", "html"]
    assert form["packages"]["anyOf"][0]["items"]["enum"] == [1, 2, 3, 4, 5]
    assert "language review" in form["review"]["description"]
    (automation,) = automations
    assert automation.trigger.expect == {"inbox.file.arrived"}
    # Arrivals ignored after the first one all come before its run lists the inbox.
    assert automation.trigger.within == timedelta(seconds=20)
    assert automation.trigger.within <= automation.actions[0].schedule_after
    assert automation.actions[0].deployment_id == watch.id


def test_the_nightly_draft_runs_next_at_two_in_the_night_stockholm_time(api):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        nightly = _deployment(client, "build_draft/nightly-draft")
        runs = wait_for("the server's scheduler to plan the nightly runs", lambda: client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))),
            timeout=300, every=2)
    nxt = min(r.expected_start_time for r in runs).astimezone(STOCKHOLM)
    assert (nxt.hour, nxt.minute) == (2, 0)
    now = datetime.now(timezone.utc)
    assert now < nxt <= now + timedelta(hours=25)
    assert all(r.expected_start_time.astimezone(STOCKHOLM).hour == 2 for r in runs)


def test_draft_on_demand_through_the_api_publishes_a_draft_with_artifacts(api, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.deployments import run_deployment

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Myrorna arbetar med kvalitetssäkring."]))
    put(inbox, "stadsmissionen/2.1 Stöd.docx", make_docx(["Stadsmissionen ger stöd."]))
    put(inbox, "verdandi/3.1 Vägen.pdf", b"%PDF-1.4")

    run = run_deployment("build_draft/draft-on-demand", timeout=900, parameters={
        "inbox": str(inbox), "out": str(out), "review": False, "formats": ["docx", "html"], "packages": [1, 2]})

    assert run.state.is_completed(), run.state
    (docx,) = out.glob("drafts/*/utkast.docx")
    assert (docx.parent / "utkast.html").exists() and not (docx.parent / "utkast.pdf").exists()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    by_key = {a.key: a for a in artifacts if a.key}
    rows = by_key["utkast-tracker"].data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert {"Nr": "1.3", "Status": "Myrorna: mottagen"}.items() <= next(r for r in rows if r["Nr"] == "1.3").items()
    assert LINK.fullmatch(by_key["utkast-draft-docx"].data).group(1) == docx.as_uri()
    summary = by_key["utkast-summary"].data
    assert "publicerat" in summary and "3\\.1 Vägen\\.pdf" in summary
    assert [a.data for a in artifacts if a.type == "progress"] == [100.0]


def test_a_file_arriving_in_a_watched_inbox_starts_one_inbox_watch_run(api, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    log = tmp_path / "watch.log"
    env = dict(api["env"], PREFECT_API_URL=api["api_url"], PREFECT_API_AUTH_STRING=api["auth"], PYTHONUNBUFFERED="1")
    with open(log, "wb") as fh:
        watcher = subprocess.Popen([str(Path(sys.executable).parent / "utkast"), "watch", "--inbox", str(inbox),
                                    "--out", str(out)], env=env, stdout=fh, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_for("the watcher to start", lambda: "Watching" in log.read_text(), timeout=120)

        def burst():  # a burst of files; written again until the watcher has seen them
            put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Myrorna om kvalitet."]))
            put(inbox, "verdandi/4.2 Motiv.md", "Verdandi om motiven.\n")
            put(inbox, "forum/bilaga.pdf", b"%PDF-1.4")
            time.sleep(2)
            return "arrived: myrorna/1.3 Kvalitet.docx" in log.read_text()

        wait_for("the watcher to see the files", burst, timeout=60, every=0)

        with get_client(sync_client=True) as client:
            watch = _deployment(client, "intake/inbox-watch")

            def runs_for_this_inbox():
                runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[watch.id])))
                return [r for r in runs if r.parameters.get("inbox") == str(inbox)]

            (run,) = wait_for("an inbox-watch run for the new files", runs_for_this_inbox, timeout=120)
            assert run.parameters["out"] == str(out)
            done = wait_for("the inbox-watch run to finish",
                            lambda: (r := client.read_flow_run(run.id)).state.is_final() and r, timeout=600, every=2)
            assert done.state.is_completed(), done.state
            assert len(runs_for_this_inbox()) == 1  # the burst gave one run
    finally:
        # SIGTERM, as a service manager stops it: Ctrl-C would be ignored when the tests run
        # from a script (then the watcher waited here until it was killed).
        os.killpg(watcher.pid, signal.SIGTERM)
        try:
            watcher.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never leave the watcher behind
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.wait(timeout=30)
    assert watcher.returncode == 0 and "Stopped watching." in log.read_text(), log.read_text()
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["cells"]["myrorna/1.3"]["state"] == "received"
    assert status["cells"]["verdandi/4.2"]["state"] == "received"
    assert [r["key"] for r in status["rejected"]] == ["forum/bilaga.pdf"]


def test_an_upload_through_the_portal_starts_the_intake(api, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from tests.portal_server import get, upload

    home, portal = api["home"], api["portal_url"]
    env = dict(api["env"], UTKAST_PORTAL_KEY="nyckel-för-stacktestet-" + "z" * 20)
    invite = subprocess.run([str(Path(sys.executable).parent / "utkast"), "invite", "myrorna", "--out",
                             str(home / "outputs"), "--base-url", portal], cwd=home, env=env,
                            capture_output=True, text=True, timeout=120)
    assert invite.returncode == 0, invite.stderr
    link = invite.stdout.splitlines()[1]

    inbox = str((home / "inbox").resolve())
    with get_client(sync_client=True) as client:
        watch = _deployment(client, "intake/inbox-watch")

        def run_for_the_portals_inbox():
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[watch.id])))
            return [r for r in runs if r.parameters.get("inbox") == inbox]

        def uploaded_and_run():  # the trigger ignores arrivals for a minute after it fired (earlier tests)
            assert upload(link, "1.3 Kvalitet.docx", make_docx(["Myrorna om kvalitet, via sidan."])).status == 303
            return _soon(run_for_the_portals_inbox, 30) and run_for_the_portals_inbox()

        (run, *_) = wait_for("an inbox-watch run for the uploaded file", uploaded_and_run, timeout=300, every=0)
        done = wait_for("the inbox-watch run to finish",
                        lambda: (r := client.read_flow_run(run.id)).state.is_final() and r, timeout=600, every=2)
        assert done.state.is_completed(), done.state
    assert (home / "inbox" / "myrorna" / "1.3 Kvalitet.docx").exists()
    assert "mottagen som delrapport 1.3" in get(link).text
    portal_log = (Path(api["logs"]) / "portal.log").read_text(encoding="utf-8", errors="replace")
    assert "upload stored: myrorna/1.3 Kvalitet.docx" in portal_log and "could not tell Prefect" not in portal_log
    assert link.rsplit("/", 2)[-2] not in portal_log


def test_stack_status_reports_the_running_stack(stack):
    done = subprocess.run([*stack["command"], "status"], env=stack["env"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "server" in done.stdout and "worker" in done.stdout and "answers" in done.stdout
    assert "portal" in done.stdout and f"Portal:     {stack['portal_url']}  (answers)" in done.stdout


# --- a worker without UTKAST_HOME ---------------------------------------------------------------


@pytest.fixture(scope="module")
def bare_worker(stack):
    """A second process worker on a pool of its own, started outside the checkout and without
    UTKAST_HOME in its environment (as on a machine where nobody set it)."""
    from scripts.stack import interruptible, prefect_command, stop_pid

    pool, elsewhere = "utkast-bare", stack["base"] / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in stack["env"].items() if k != "UTKAST_HOME"}
    env.update(PREFECT_API_URL=stack["api_url"], PREFECT_API_AUTH_STRING=stack["auth"],
               PREFECT_HOME=str(stack["base"] / "bare-prefect"),
               DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_LOGGING_LEVEL="INFO")  # Prefect's default (the tests' WARNING would hide the runs' INFO lines)
    prefect = prefect_command()
    made = subprocess.run([*prefect, "work-pool", "create", pool, "--type", "process"], env=env, cwd=elsewhere,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    log = stack["base"] / "bare-worker.log"
    interruptible()  # as the stack's own workers: it stops on SIGTERM even where CI ignores SIGINT
    with open(log, "wb") as fh:
        worker = subprocess.Popen([*prefect, "worker", "start", "--pool", pool, "--type", "process"], env=env,
                                  cwd=elsewhere, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    try:
        yield pool
    finally:
        stop_pid(worker.pid)


def _draft_on_demand_on(pool: str, name: str, pull_steps=None) -> str:
    """draft-on-demand as deployed from the stack's checkout, on ``pool`` (other pull steps if given)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        source = _deployment(client, "build_draft/draft-on-demand")
        client.create_deployment(flow_id=source.flow_id, name=name, work_pool_name=pool,
                                 entrypoint=source.entrypoint, parameter_openapi_schema=source.parameter_openapi_schema,
                                 parameters=source.parameters, pull_steps=pull_steps or source.pull_steps)
    return f"build_draft/{name}"


def _run_logs(run_id) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        return "\n".join(entry.message for entry in client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))))


def test_the_deployments_remember_the_folder_they_were_made_from(api):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        steps = {name: _deployment(client, name).pull_steps for name in
                 ("intake/inbox-watch", "build_draft/nightly-draft", "build_draft/draft-on-demand")}
    home = str(Path(api["home"]).resolve())
    assert set(map(str, steps.values())) == {str([{"flows.checkout.enter_checkout": {"deployed_from": home}}])}


def test_a_worker_without_utkast_home_runs_in_the_folder_the_deployment_was_made_from(api, bare_worker, tmp_path):
    from prefect.deployments import run_deployment

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Myrorna arbetar med kvalitetssäkring."]))
    name = _draft_on_demand_on(bare_worker, "draft-without-home")
    run = run_deployment(name, timeout=900, parameters={
        "inbox": str(inbox), "out": str(out), "review": False, "formats": ["docx"], "packages": [1]})

    assert run.state.is_completed(), run.state
    assert list(out.glob("drafts/*/utkast.docx"))
    home = Path(api["home"]).resolve()
    expected = f"Running from {home} (UTKAST_HOME is not set; the folder the deployments were made from)"
    wait_for("the run's log", lambda: expected in _run_logs(run.id), timeout=60)


def test_a_worker_that_cannot_find_the_checkout_fails_the_run_with_one_line_saying_what_to_set(api, bare_worker):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    name = _draft_on_demand_on(bare_worker, "draft-from-elsewhere", pull_steps=[
        {"flows.checkout.enter_checkout": {"deployed_from": "/nonexistent/utkast"}}])
    run = run_deployment(name, timeout=900, parameters={"review": False, "formats": ["docx"]})

    expected = ("UTKAST_HOME is not set on this worker and the folder the deployments were made from "
                "(/nonexistent/utkast) is not a utkast checkout here: set UTKAST_HOME to the folder of this "
                "machine's utkast checkout in the worker's environment and start the run again")
    assert run.state.is_failed(), run.state
    assert run.state.message == expected
    wait_for("the run's log", lambda: expected in _run_logs(run.id), timeout=60)
    time.sleep(5)  # the worker has seen its process end by now; the run keeps its state and message
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state.is_failed() and state.message == expected
    assert "FileNotFoundError" not in _run_logs(run.id)


def test_utkast_build_from_a_terminal_uses_the_running_stack_without_any_variable(api, tmp_path):
    """`utkast build` with no PREFECT_API_URL: the checkout's stack (its .local/stack.json)
    answers, so the run is on that server and no temporary one is started."""
    from prefect.client.orchestration import get_client

    home = api["home"]  # the checkout the stack runs from (UTKAST_HOME)
    (home / ".local").mkdir(exist_ok=True)
    shutil.copy(api["base"] / "stack.json", home / ".local" / "stack.json")
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Myrorna arbetar med kvalitetssäkring."]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(UTKAST_HOME=str(home), PREFECT_HOME=str(tmp_path / "prefect"), DO_NOT_TRACK="1")
    try:
        done = subprocess.run([str(Path(sys.executable).parent / "utkast"), "build", "--inbox", str(inbox),
                               "--out", str(out), "--no-review", "--formats", "docx"], env=env, capture_output=True,
                              text=True, timeout=600)
    finally:
        (home / ".local" / "stack.json").unlink()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "temporary server" not in done.stdout + done.stderr
    assert list(out.glob("drafts/*/manifest.json"))
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if r.parameters.get("inbox") == str(inbox)]
    assert len(runs) == 1 and runs[0].state.is_completed(), runs


# --- the warm process: `utkast build` from a terminal in a fork with Prefect loaded -----------------


def _warm_log(stack) -> str:
    return (Path(stack["logs"]) / "warm.log").read_text(encoding="utf-8")


def _fork_of(stack, pid: int) -> int | None:
    """The fork the warm process ran command ``pid`` in, from its log."""
    from flows.warm import fork_of

    return fork_of(_warm_log(stack), pid)


def _fork_end(stack, fork: int) -> int | None:
    """The exit code of a fork of the warm process once its log notes the fork's end."""
    from flows.warm import fork_end

    end = fork_end(_warm_log(stack), fork)
    return end and end[0]


def _as_checkout_command(stack, tmp_path, *args: str, extra_env: dict | None = None, **popen):
    """`utkast ARGS` as the stack's checkout's own script would run it (its code, its stack)."""
    command = [sys.executable, "-c", "from flows.cli import run; run()", *args]
    return subprocess.Popen(command, cwd=stack["home"], env={**_terminal_env(stack, tmp_path), **(extra_env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _terminal_env(stack, tmp_path) -> dict[str, str]:
    """The environment of a terminal that started the stack (the same Prefect logging settings),
    finding it by its state file alone."""
    env = {k: v for k, v in stack["env"].items() if not k.startswith("PREFECT_API")}
    env.update(UTKAST_STACK_STATE=str(stack["base"] / "stack.json"), PREFECT_HOME=str(tmp_path / "prefect"))
    return env


def _one_report(tmp_path, name: str = "myrorna/1.3 Kvalitet.docx") -> tuple[Path, Path]:
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, name, make_docx(["Myrorna arbetar med kvalitetssäkring i butikerna."]))
    return inbox, out


def test_utkast_build_runs_in_a_fork_of_the_stacks_warm_process_with_the_same_output(api, tmp_path):
    """With the stack running, `utkast build` hands itself to the warm process: the terminal
    shows the same lines, the draft and the Prefect run are there, the exit code is the
    command's, and the warm process's log names the command and the fork it ran in."""
    from prefect.client.orchestration import get_client

    inbox, out = _one_report(tmp_path)
    command = _as_checkout_command(api, tmp_path, "build", "--inbox", str(inbox), "--out", str(out), "--no-review",
                                   "--formats", "docx", preexec_fn=lambda: os.umask(0o027))
    stdout, stderr = command.communicate(timeout=600)
    assert command.returncode == 0, stdout + stderr
    assert "Draft " in stdout and " published." in stdout and "1 converted in this run." in stdout
    assert "Konverterar 1 dokument" in stderr  # utkast's progress lines, on the command's own terminal
    fork = _fork_of(api, command.pid)
    assert f"`utkast build` of process {command.pid} runs in fork {fork}" in _warm_log(api)
    # The fork ends and is collected, with what it used (the benchmark reads its peak memory here).
    assert wait_for("the fork's end", lambda: _fork_end(api, fork) == 0,
                    timeout=30, every=0.2)
    (docx,) = out.glob("drafts/*/utkast.docx")
    assert stat.S_IMODE(docx.stat().st_mode) == 0o640  # written with the command's umask, not the stack's
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if r.parameters.get("inbox") == str(inbox)]
    assert len(runs) == 1 and runs[0].state.is_completed(), runs
    # A configuration typo in the folder the command's UTKAST_TEMPLATES names (its environment,
    # not the warm process's): the command's exit code and message, from the fork.
    bad = tmp_path / "templates"
    shutil.copytree(api["home"] / "templates", bad)
    (bad / "settings.toml").write_text((bad / "settings.toml").read_text(encoding="utf-8") + "\nformatz = 1\n",
                                       encoding="utf-8")
    command = _as_checkout_command(api, tmp_path, "build", "--inbox", str(inbox), "--out", str(out),
                                   extra_env={"UTKAST_TEMPLATES": str(bad)})
    stdout, stderr = command.communicate(timeout=600)
    assert command.returncode == 2 and "configuration error in" in stderr and "formatz" in stderr, stderr
    assert f"`utkast build` of process {command.pid} runs in fork" in _warm_log(api)


def test_two_commands_at_once_each_run_in_their_own_fork_and_publish_one_draft(api, tmp_path):
    """Two terminals press `utkast build` on the same inbox at the same moment (two coordinators,
    or a coordinator and a script): each command runs in a fork of its own, shows only its own
    lines, and the two builds take the outputs' lock one after the other, so exactly one draft is
    published and the second says there is nothing new. A third command with another output
    folder, at the same time, publishes its own draft."""
    inbox, out = _one_report(tmp_path)
    other = tmp_path / "outputs-other"
    args = ["build", "--inbox", str(inbox), "--no-review", "--formats", "docx"]
    commands = [_as_checkout_command(api, tmp_path, *args, "--out", str(folder)) for folder in (out, out, other)]
    outputs = [c.communicate(timeout=600) for c in commands]
    for command, (stdout, stderr) in zip(commands, outputs):
        assert command.returncode == 0, stdout + stderr
        assert f"`utkast build` of process {command.pid} runs in fork" in _warm_log(api)
        assert stdout.count("Draft ") + stdout.count("Nothing new since draft ") == 1, stdout  # its own lines only
    forks = {_fork_of(api, c.pid) for c in commands}
    assert len(forks) == 3 and None not in forks
    same = [stdout for stdout, _ in outputs[:2]]
    assert sum(" published." in s and "Draft " in s for s in same) == 1, same
    assert sum("Nothing new since draft " in s for s in same) == 1, same
    assert len(list(out.glob("drafts/*/utkast.docx"))) == 1
    assert len(list(other.glob("drafts/*/utkast.docx"))) == 1 and "published." in outputs[2][0]
    for fork in forks:
        assert wait_for("the forks' ends", lambda f=fork: _fork_end(api, f) == 0,
                        timeout=30, every=0.2)


def test_ctrl_c_on_a_command_ends_its_fork_in_the_warm_process(api, tmp_path):
    """Ctrl-C on a command whose build runs in the warm process ends the build, not the warm
    process, and the next command runs there again."""
    for n in range(40):
        put(tmp_path / "inbox", f"myrorna/1.{n % 4 + 1} Del {n}.docx", make_docx([f"Stycke {n} om butikerna."] * 30))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    command = _as_checkout_command(api, tmp_path, "build", "--inbox", str(inbox), "--out", str(out), "--no-review",
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal
    fork = wait_for("the fork", lambda: _fork_of(api, command.pid), timeout=120, every=0.2)
    os.kill(command.pid, signal.SIGINT)
    stdout, stderr = command.communicate(timeout=120)
    assert command.returncode == 130 and "published" not in stdout, stdout + stderr
    assert wait_for("the fork to end", lambda: ended(fork), timeout=60, every=0.2)
    assert Path(f"/proc/{api['pids']['warm']}").exists()
    inbox2, out2 = _one_report(tmp_path / "again")
    again = _as_checkout_command(api, tmp_path, "build", "--inbox", str(inbox2), "--out", str(out2), "--no-review",
                                 "--formats", "docx")
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0 and " published." in stdout, stdout + stderr
    assert f"`utkast build` of process {again.pid} runs in fork" in _warm_log(api)


def test_the_warm_process_runs_no_stale_code_and_no_other_checkouts(api, tmp_path):
    """A command of another checkout runs itself; after the checkout's code changes, the next
    command runs itself too and the warm process starts again on the new code (the same
    process, so the stack still knows it), and the command after that runs in it again."""
    inbox, out = _one_report(tmp_path)
    args = ["build", "--inbox", str(inbox), "--out", str(out), "--no-review", "--formats", "docx"]
    other = subprocess.run([str(Path(sys.executable).parent / "utkast"), *args], env=_terminal_env(api, tmp_path), capture_output=True,
                           text=True, timeout=600)
    assert other.returncode == 0 and " published." in other.stdout, other.stdout + other.stderr
    assert f"it runs the code of {api['home']}, not of {ROOT}" in _warm_log(api)

    changed = api["home"] / "tasks" / "draft" / "summary.py"
    os.utime(changed, ns=(time.time_ns(), time.time_ns()))
    readies = _warm_log(api).count("warm: ready on")
    command = _as_checkout_command(api, tmp_path, *args)
    stdout, stderr = command.communicate(timeout=600)
    assert command.returncode == 0 and "Nothing new since draft" in stdout, stdout + stderr
    assert "its code has changed since it started" in _warm_log(api)
    assert f"of process {command.pid} runs in fork" not in _warm_log(api)
    wait_for("the warm process to start again", lambda: _warm_log(api).count("warm: ready on") > readies,
             timeout=120, every=0.2)
    assert Path(f"/proc/{api['pids']['warm']}").exists()
    command = _as_checkout_command(api, tmp_path, *args)
    stdout, stderr = command.communicate(timeout=600)
    assert command.returncode == 0 and "Nothing new since draft" in stdout, stdout + stderr
    assert f"`utkast build` of process {command.pid} runs in fork" in _warm_log(api)
