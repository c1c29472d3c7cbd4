"""Several workers for real: `stack up --postgres --workers 2` starts a PostgreSQL cluster of its
own, a Prefect server on it (API behind a random auth string), the deployments, the recovery
automations and two process workers. Runs are shared by the workers; a worker killed in the
middle of a build is noticed by Prefect and the build finishes on the other worker, by itself.

The stack runs from a copy of this checkout in a folder of its own, stopped by PID afterwards.
The worker is killed last in the module: the tests before it need both workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tasks.storage.local import LocalStorage
from tests.builders import make_docx, put
from tests.faults import ended, inconsistencies, torn_files
from tests.stacks import (
    api_settings,
    descendants,
    kill_worker,
    listening_sockets,
    postgres_installed,
    private_base,
    request,
    running_stack,
    submitted_by,
    wait_for,
    worker_of,
)
from tests.test_faults import _slow_inbox


@pytest.fixture(scope="module")
def postgres_stack():
    if not postgres_installed():
        pytest.skip("Debian's postgresql is not installed (.ci/run installs it: apt-get install postgresql)")
    base = private_base("utkast-scale-")
    try:
        with running_stack(base, workers=2, postgres=True) as stack:
            yield stack
        for name, pid in stack["pids"].items():  # `down` stopped every process it started
            assert ended(pid), name
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid")


def test_up_reports_postgresql_and_two_workers_and_status_lists_every_process(postgres_stack):
    stack = postgres_stack
    assert "database: postgresql; 2 worker(s)" in stack["up"].stdout
    done = subprocess.run([*stack["command"], "status"], env=stack["env"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("postgres", "server", "warm", "worker-1", "worker-2", "portal"):
        assert f"{name} " in done.stdout and stack["pids"][name]
    assert done.stdout.count("running") == 6 and "answers; database: postgresql" in done.stdout
    assert "Portal:" in done.stdout and "(answers)" in done.stdout


def test_the_server_keeps_its_data_in_the_stacks_own_postgresql(postgres_stack):
    stack = postgres_stack
    from scripts.stack import PG_USER, postgres_bin

    password = (stack["base"] / "postgres" / "password").read_text().strip()
    psql = subprocess.run(
        [str(postgres_bin() / "psql"), "-h", str(stack["base"] / "postgres" / "run"), "-U", PG_USER, "-tA", "-c",
         "select name from deployment order by name", "prefect"],
        env={"PATH": os.environ["PATH"], "PGPASSWORD": password}, capture_output=True, text=True, timeout=60)
    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.split() == ["comments-harvest", "draft-on-demand", "inbox-watch", "nightly-draft"]
    assert not list((stack["base"] / "prefect").rglob("*.db"))  # no SQLite database anywhere
    pg = stack["pids"]["postgres"]
    if os.geteuid() == 0:
        assert _uid(pg) != 0  # initdb and postgres refuse root: an unprivileged user runs it
    assert listening_sockets(pg) == []  # a Unix socket only
    assert {addr for addr, _port in listening_sockets(stack["pids"]["server"])} == {"127.0.0.1"}
    assert oct((stack["base"] / "postgres" / "password").stat().st_mode & 0o777) == "0o600"


def test_a_request_without_the_auth_string_is_refused(postgres_stack):
    stack = postgres_stack
    assert request(stack, "POST", "/flows/filter", {}) == 401
    assert request(stack, "POST", "/flows/filter", {}, auth="wrong") == 401
    assert request(stack, "POST", "/deployments/filter", {}, auth=stack["auth"][:-1]) == 401
    assert request(stack, "POST", "/flows/filter", {}, auth=stack["auth"]) == 200
    assert request(stack, "GET", "/health") == 200  # health checks stay open
    # The prefect CLI without the string is refused too; with `. prefect.env` it works.
    env = {k: v for k, v in stack["env"].items() if not k.startswith("PREFECT_API_AUTH")}
    env.update(PREFECT_API_URL=stack["api_url"], PREFECT_HOME=str(stack["base"] / "prefect"))
    from scripts.stack import prefect_command

    prefect = prefect_command()[0]
    refused = subprocess.run([prefect, "deployment", "ls"], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "draft-on-demand" not in refused.stdout
    allowed = subprocess.run([prefect, "deployment", "ls"], env={**env, **stack["client_env"]}, capture_output=True,
                             text=True, timeout=120)
    assert allowed.returncode == 0 and "draft-on-demand" in allowed.stdout, allowed.stderr


def test_several_drafts_on_demand_at_once_all_complete_taken_by_both_workers(postgres_stack, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    stack = postgres_stack
    runs = []
    with api_settings(stack):
        for i in range(4):
            inbox, out = tmp_path / f"inbox{i}", tmp_path / f"outputs{i}"
            put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx([f"Myrorna arbetar med kvalitet, utkast {i}."]))
            put(inbox, "verdandi/2.1 Stöd.md", f"Verdandi ger stöd, utkast {i}.\n")
            runs.append(run_deployment("build_draft/draft-on-demand", timeout=0, parameters={
                "inbox": str(inbox), "out": str(out), "review": False, "formats": ["docx", "html"]}))
        with get_client(sync_client=True) as client:
            done = [wait_for(f"run {run.id} to finish", lambda run=run: (r := client.read_flow_run(run.id)).state.is_final()
                             and r, timeout=900, every=2) for run in runs]
            workers = submitted_by(client, [r.id for r in done])
    assert [r.state.type.value for r in done] == ["COMPLETED"] * 4, [r.state for r in done]
    for i in range(4):
        latest = json.loads((tmp_path / f"outputs{i}" / "drafts" / "latest.json").read_text())
        assert (tmp_path / f"outputs{i}" / latest["formats"]["docx"]).exists()
    assert {workers.get(str(r.id)) for r in done} == {"worker-1", "worker-2"}, workers


def test_secrets_are_in_private_files_only_never_printed_or_logged(postgres_stack):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter

    stack = postgres_stack
    base = stack["base"]
    password = (base / "postgres" / "password").read_text().strip()
    secrets_ = {"API auth string": stack["auth"], "database password": password}
    for path in (base / "prefect.env", base / "postgres" / "password", base / "stack.json"):
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
    status = subprocess.run([*stack["command"], "status"], env=stack["env"], capture_output=True, text=True, timeout=60)
    shown = {"up": stack["up"].stdout + stack["up"].stderr, "status": status.stdout + status.stderr,
             "stack.json": (base / "stack.json").read_text()}
    for log in Path(stack["logs"]).glob("*.log"):
        shown[log.name] = log.read_text(encoding="utf-8", errors="replace")
    with api_settings(stack), get_client(sync_client=True) as client:
        shown["run logs"] = "\n".join(entry.message for entry in client.read_logs(log_filter=LogFilter(), limit=200))
        shown["artifacts"] = "\n".join(str(a.data) for a in client.read_artifacts(limit=200))
    for where, text in shown.items():
        for what, value in secrets_.items():
            assert value not in text, f"the {what} is in {where}"
    # Workers and flow runs never get the database password, only the server does.
    for name, pid in stack["pids"].items():
        if name.startswith("worker"):
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert password.encode() not in environ and b"PREFECT_API_DATABASE" not in environ


def test_a_worker_killed_mid_build_the_build_is_started_again_and_publishes_on_the_other_worker(
        postgres_stack, tmp_path, config):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    stack = postgres_stack
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    keys = _slow_inbox(inbox, config, count=40)
    scratch = stack["base"] / "tmp"
    with api_settings(stack), get_client(sync_client=True) as client:
        run = run_deployment("build_draft/draft-on-demand", timeout=0, parameters={
            "inbox": str(inbox), "out": str(out), "review": False, "formats": ["docx", "html", "pdf"]})

        before = set(scratch.glob("utkast-*"))  # left by earlier runs: not this build's

        def busy():  # this build is converting (results being written) or rendering the draft
            work = [p for p in scratch.glob("utkast-convert-*/result-*.json") if p.parent not in before]
            work += [p for p in scratch.glob("utkast-render-*/*") if p.parent not in before]
            current = client.read_flow_run(run.id)
            return work and current.state.is_running() and current.infrastructure_pid and current

        flow_run = wait_for("the build to convert or render", busy, timeout=600, every=0.2)
        flow_pid = int(str(flow_run.infrastructure_pid).rsplit(":", 1)[-1])
        victim = worker_of(stack, flow_pid)
        assert victim, "the build's process is not a worker's child"
        pandoc_running = any(b"pandoc" in Path(f"/proc/{p}/cmdline").read_bytes() for p in descendants(flow_pid)
                             if Path(f"/proc/{p}/cmdline").exists())
        killed_at = time.monotonic()
        kill_worker(stack["pids"][victim], flow_pid)
        assert not (out / "drafts" / "latest.json").exists()

        final = wait_for("the build to finish after the kill", lambda: (r := client.read_flow_run(run.id)).state.is_final()
                         and r, timeout=900, every=2)
        recovered_after = time.monotonic() - killed_at
        states = [s.name for s in client.read_flow_run_states(run.id)]
        last_worker = submitted_by(client, [run.id]).get(str(run.id))
    assert final.state.is_completed(), (final.state, states)
    assert "Crashed" in states and "AwaitingRetry" in states, states  # Prefect noticed and started it again
    survivor = {"worker-1": "worker-2", "worker-2": "worker-1"}[victim]
    assert last_worker == survivor
    store = LocalStorage(out)
    assert torn_files(store) == [] and inconsistencies(store, LocalStorage(inbox)) == []
    latest = json.loads((out / "drafts" / "latest.json").read_text())
    manifest = json.loads((out / latest["manifest"]).read_text())
    assert sorted(latest["formats"]) == ["docx", "html", "pdf"]
    assert len(manifest["reports"]) == len(keys)
    status = subprocess.run([*stack["command"], "status"], env=stack["env"], capture_output=True, text=True, timeout=60)
    assert f"{victim}   pid" in status.stdout and "stopped" in status.stdout and status.returncode == 1
    print(f"\nkilled {victim} while {'pandoc ran' if pandoc_running else 'the build ran'}; the run completed "
          f"{recovered_after:.0f} s later on {survivor}; states: {' -> '.join(states)}")


def test_the_recovery_automations_crash_silent_runs_and_start_crashed_ones_again():
    from datetime import timedelta

    from prefect.client.schemas.objects import StateType
    from prefect.events.schemas.automations import Posture

    from flows.recovery import HEARTBEAT_SECONDS, SILENCE_SECONDS, automations

    crash, stuck, restart = automations()
    assert crash.trigger.posture == Posture.Proactive
    assert crash.trigger.after == {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"}
    assert stuck.trigger.after == {"prefect.flow-run.Pending"} and "prefect.flow-run.Running" in stuck.trigger.expect
    assert stuck.actions[0].state == StateType.CRASHED
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed"} <= crash.trigger.expect
    # One lost or late heartbeat never crashes a live run; a dead one is crashed within two periods.
    assert crash.trigger.within == timedelta(seconds=SILENCE_SECONDS) == timedelta(seconds=2 * HEARTBEAT_SECONDS)
    assert crash.actions[0].state == StateType.CRASHED
    assert restart.trigger.expect == {"prefect.flow-run.Crashed"} and restart.trigger.posture == Posture.Reactive
    assert (restart.actions[0].state, restart.actions[0].name) == (StateType.SCHEDULED, "AwaitingRetry")
    for automation in (crash, stuck, restart):  # only utkast's runs, one run at a time
        assert automation.trigger.for_each == {"prefect.resource.id"}
        assert automation.trigger.match_related.root["prefect.resource.id"] == "prefect.tag.utkast"


def test_only_the_server_gets_the_database_url_and_the_auth_string_it_checks(tmp_path, monkeypatch):
    from scripts.stack import server_env, stack_env, write_private

    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://someone:old@/x")
    clients = stack_env(4200, tmp_path / "prefect", tmp_path, auth="s3cret")
    assert clients["PREFECT_API_AUTH_STRING"] == "s3cret" and "PREFECT_SERVER_API_AUTH_STRING" not in clients
    assert not any(name.startswith("PREFECT_API_DATABASE") for name in clients)
    assert clients["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    server = server_env(clients, "s3cret", "postgresql+asyncpg://utkast:pw@/prefect?host=/run")
    assert server["PREFECT_SERVER_API_AUTH_STRING"] == "s3cret"
    assert server["PREFECT_API_DATABASE_CONNECTION_URL"].endswith("@/prefect?host=/run")
    secret = tmp_path / "secret.env"
    write_private(secret, "x\n")
    assert oct(secret.stat().st_mode & 0o777) == "0o600"


def test_stopping_a_process_that_ignores_its_signal_kills_it_and_says_so():
    """`stack down` gives each process STOP_GRACE seconds to end on its signal; one that does not
    is killed, and stop_pid says so (down prints it), so a slow stop has a line of its own."""
    import sys

    from scripts.stack import alive, stop_pid

    quiet = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                 "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
                                start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        assert stubborn.stdout.readline() == "ready\n"
        assert stop_pid(quiet.pid, grace=10) is False and not alive(quiet.pid)  # ended on SIGTERM
        assert stop_pid(stubborn.pid, grace=0.5) is True and not alive(stubborn.pid)
        assert stop_pid(quiet.pid) is False  # already gone: nothing to do
    finally:
        for proc in (quiet, stubborn):
            proc.kill()
            proc.wait()


def test_the_stacks_processes_take_sigint_even_when_up_ran_with_it_ignored(tmp_path):
    """`stack up` from `nohup` or a script's `&` runs with SIGINT ignored, which its processes
    would inherit: a worker stops on `down` by sending itself SIGINT, so it could not, and was
    killed after 20 s with its run (seen in CI). Each process the stack starts takes SIGINT."""
    import sys

    from tests.conftest import ROOT

    log = tmp_path / "child.log"
    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)"
    parent = (f"import signal, sys; sys.path.insert(0, {str(ROOT)!r}); signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              f"from pathlib import Path; from scripts.stack import start\n"
              f"start([sys.executable, '-c', {probe!r}], {{}}, Path({str(log)!r}), Path({str(tmp_path)!r}))")
    subprocess.run([sys.executable, "-c", parent], check=True, timeout=60)
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert log.read_text().strip() == "True"


def test_a_checkout_the_database_user_cannot_enter_gets_its_cluster_in_that_users_home(tmp_path):
    import pwd

    from scripts.stack import cluster_home

    me = pwd.getpwuid(os.getuid()).pw_name
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    pgdir = tmp_path / "a" / ".local" / "postgres"
    assert cluster_home(pgdir, None, lambda p: False) == pgdir  # PostgreSQL runs as ourselves
    assert cluster_home(pgdir, me, lambda p: True) == pgdir  # the user may pass through
    elsewhere = cluster_home(pgdir, me, lambda p: p != pgdir)
    assert elsewhere.parent == home and elsewhere.name.startswith("utkast-")
    # Another checkout, another cluster; the same checkout, the same one each time.
    assert cluster_home(tmp_path / "b" / ".local" / "postgres", me, lambda p: p.parent.name != ".local") != elsewhere
    assert cluster_home(pgdir, me, lambda p: p != pgdir) == elsewhere
    assert cluster_home(pgdir, me, lambda p: p == Path("/var/tmp")).parent == Path("/var/tmp")
    with pytest.raises(SystemExit, match="cannot reach"):
        cluster_home(pgdir, me, lambda p: False)
