"""Which Prefect server a command uses: PREFECT_API_URL, else the checkout's stack when it
answers, else a temporary one (flows/prefect_api.py, no Prefect needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from flows.prefect_api import START_SECONDS, TEMPORARY_HINT, choose_server, find_server, read_env_file

STACK = {"pids": {"server": 1, "worker": 2}, "api_url": "http://127.0.0.1:4200/api", "ui_url": "http://127.0.0.1:4200"}


def never(url, auth):
    raise AssertionError("no server should be asked")


def test_prefect_api_url_wins_and_nothing_is_asked():
    choice = choose_server({"PREFECT_API_URL": "http://elsewhere:4200/api"}, STACK, {}, never)
    assert (choice.source, choice.api_url, choice.settings) == ("environment", "http://elsewhere:4200/api", {})


def test_a_stack_that_answers_is_used():
    asked = []
    choice = choose_server({}, STACK, {}, lambda url, auth: asked.append((url, auth)) or True)
    assert choice.source == "stack" and choice.settings == {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}
    assert asked == [("http://127.0.0.1:4200/api", None)]


def test_a_stack_that_does_not_answer_or_no_stack_means_a_temporary_server():
    assert choose_server({}, STACK, {}, lambda url, auth: False).source == "temporary"
    assert choose_server({}, None, {}, never).source == "temporary"
    assert choose_server({}, {"api_url": "file:///etc/passwd"}, {}, never).source == "temporary"
    assert choose_server({}, {"api_url": 42}, {}, never).source == "temporary"


def test_a_temporary_server_may_take_as_long_to_start_as_the_stacks():
    """Prefect waits 20 s for its temporary server; its first start on a fresh machine (making
    its database) took longer on two busy cores, and the README's first command failed."""
    choice = choose_server({}, None, {}, never)
    assert choice.settings == {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(START_SECONDS)}
    assert START_SECONDS >= 120
    # the coordinator's own setting stands
    mine = choose_server({"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600"}, None, {}, never)
    assert mine.source == "temporary" and mine.settings == {}


def test_the_stacks_auth_string_is_used_to_ask_and_to_connect_but_never_shown():
    secret = "utkast:s3cr3t-value"
    asked = []
    choice = choose_server({}, STACK, {"PREFECT_SERVER_API_AUTH_STRING": secret},
                           lambda url, auth: asked.append(auth) or True)
    assert asked == [secret] and choice.settings["PREFECT_API_AUTH_STRING"] == secret
    assert secret not in repr(choice)
    # one of the command's own is not replaced
    mine = choose_server({"PREFECT_API_AUTH_STRING": "mine"}, STACK, {"PREFECT_API_AUTH_STRING": secret},
                         lambda url, auth: auth == "mine")
    assert mine.source == "stack" and "PREFECT_API_AUTH_STRING" not in mine.settings


def test_env_file_lines():
    text = "# the stack's API\nexport PREFECT_API_AUTH_STRING='a:b=c'\nPREFECT_X = \"y\"\n\nnot a line\n"
    assert read_env_file(text) == {"PREFECT_API_AUTH_STRING": "a:b=c", "PREFECT_X": "y"}


def test_find_server_reads_the_checkouts_stack_and_ignores_one_whose_server_is_gone(tmp_path):
    (tmp_path / ".local").mkdir()
    state = tmp_path / ".local" / "stack.json"
    state.write_text(json.dumps({**STACK, "pids": {"server": 2 ** 22 + 12345}, "api_url": "http://127.0.0.1:9/api"}))
    assert find_server({}, tmp_path).source == "temporary"  # no such process
    state.write_text(json.dumps({**STACK, "pids": {"server": os.getpid()}, "api_url": "http://127.0.0.1:9/api"}))
    assert find_server({}, tmp_path).source == "temporary"  # nothing answers on port 9
    assert find_server({"PREFECT_API_URL": "http://x/api"}, tmp_path).source == "environment"


def test_the_hint_is_one_line_that_says_how_to_avoid_it():
    assert "\n" not in TEMPORARY_HINT and "python3 dev.py stack up" in TEMPORARY_HINT


def test_find_server_takes_the_auth_string_from_the_env_file_the_stack_names(tmp_path, monkeypatch):
    import flows.prefect_api

    (tmp_path / ".local").mkdir()
    elsewhere = tmp_path / "elsewhere" / "prefect.env"
    elsewhere.parent.mkdir()
    elsewhere.write_text("export PREFECT_API_AUTH_STRING=from-the-stack\n")
    (tmp_path / ".local" / "stack.json").write_text(json.dumps(
        {**STACK, "pids": {"server": os.getpid()}, "env_file": str(elsewhere)}))
    asked = []
    monkeypatch.setattr(flows.prefect_api, "answers", lambda url, auth: asked.append(auth) or True)
    choice = find_server({}, tmp_path)
    assert choice.source == "stack" and asked == ["from-the-stack"]
    assert choice.settings["PREFECT_API_AUTH_STRING"] == "from-the-stack"


# --- the portal's address: one answer for every sender of links ---------------------------------


def test_the_portal_address_comes_from_the_environment_then_settings_then_the_running_stack(tmp_path):
    from flows.prefect_api import portal_url as portal_base_url

    state = tmp_path / "elsewhere" / "stack.json"
    state.parent.mkdir()
    state.write_text(json.dumps({**STACK, "pids": {"server": os.getpid()}, "portal_url": "http://127.0.0.1:18480"}))
    stack = {"UTKAST_STACK_STATE": str(state), "UTKAST_HOME": str(tmp_path)}
    assert portal_base_url("", stack) == "http://127.0.0.1:18480"
    assert portal_base_url("https://utkast.example.org", stack) == "https://utkast.example.org"
    assert portal_base_url("https://utkast.example.org", {**stack, "UTKAST_PORTAL_URL": "https://a.example/"}) \
        == "https://a.example"
    # The checkout's own .local/stack.json when no state file is named.
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "stack.json").write_text(state.read_text())
    assert portal_base_url("", {"UTKAST_HOME": str(tmp_path)}) == "http://127.0.0.1:18480"


def test_a_stack_that_is_gone_gives_the_default_portal_address(tmp_path):
    from flows.prefect_api import portal_url as portal_base_url

    state = tmp_path / "stack.json"
    state.write_text(json.dumps({**STACK, "pids": {"server": 2 ** 22 + 12345}, "portal_url": "http://127.0.0.1:1"}))
    assert portal_base_url("", {"UTKAST_STACK_STATE": str(state)}) == "http://127.0.0.1:8080"
    state.write_text(json.dumps({**STACK, "pids": {"server": os.getpid()}, "portal_url": "file:///etc"}))
    assert portal_base_url("", {"UTKAST_STACK_STATE": str(state)}) == "http://127.0.0.1:8080"
    assert portal_base_url("", {"UTKAST_STACK_STATE": str(tmp_path / "none.json")}) == "http://127.0.0.1:8080"


# --- who reads the uploads --------------------------------------------------------------------------

READY_POOL = {"utkast": {"status": "READY"}}
DEPLOYED = {"intake/inbox-watch": {"work_pool_name": "utkast", "paused": False},
            "harvest_comments/comments-harvest": {"work_pool_name": "utkast", "paused": False}}
API = "http://127.0.0.1:4200/api"


def test_uploads_are_read_only_with_a_server_that_answers_the_deployments_and_a_worker():
    from flows.prefect_api import describe_processing

    ok = describe_processing(API, True, DEPLOYED, READY_POOL)
    assert ok.ok and ok.line == ("uploads are read as they arrive (intake/inbox-watch, "
                                 f"harvest_comments/comments-harvest on {API})")
    none = describe_processing(None, False, {}, {})
    assert not none.ok and "nothing reads them until someone runs `utkast intake`" in none.line
    assert "python3 dev.py stack up" in none.line
    away = describe_processing(API, False, {}, {})
    assert not away.ok and f"the Prefect server at {API} does not answer" in away.line
    missing = describe_processing(API, True, {**DEPLOYED, "harvest_comments/comments-harvest": None}, READY_POOL)
    assert not missing.ok and "reviewers' files: harvest_comments/comments-harvest is not deployed" in missing.line
    idle = describe_processing(API, True, DEPLOYED, {"utkast": {"status": "NOT_READY"}})
    assert not idle.ok and "partners' files: the work pool 'utkast' of intake/inbox-watch has no worker running" \
        in idle.line
    paused = describe_processing(API, True, {**DEPLOYED, "intake/inbox-watch": {"work_pool_name": "utkast",
                                                                                 "paused": True}}, READY_POOL)
    assert not paused.ok and "intake/inbox-watch is paused" in paused.line


def test_the_portal_warns_in_its_log_when_nothing_reads_uploads_and_says_when_it_changes(caplog):
    import logging

    from flows.serve import ProcessingWatch
    from flows.prefect_api import Processing

    answers = iter([Processing(False, "no Prefect server: …"), Processing(False, "no Prefect server: …"),
                    Processing(True, "uploads are read as they arrive (…)")])
    watch = ProcessingWatch(check=lambda: next(answers))
    with caplog.at_level(logging.INFO, logger="utkast"):
        for _ in range(3):
            watch.look()
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "utkast"] == [
        ("WARNING", "portal: no Prefect server: …"), ("INFO", "portal: uploads are read as they arrive (…)")]
    assert watch.latest.ok


def test_utkast_serve_without_a_prefect_server_says_so_in_its_log(tmp_path):
    """The real command, with no PREFECT_API_URL and no stack: its log says that uploads are
    stored but not read; `utkast status` says the same."""
    from tests.stacks import free_port, wait_for

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "UTKAST_"))}
    env.update(UTKAST_HOME=str(tmp_path), UTKAST_PORTAL_KEY="k" * 40)
    utkast = str(Path(sys.executable).parent / "utkast")
    log = tmp_path / "serve.log"
    port = free_port()
    with open(log, "wb") as fh:
        serve = subprocess.Popen([utkast, "serve", "--inbox", str(tmp_path / "inbox"), "--out", str(tmp_path / "out"),
                                  "--port", str(port)], env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_for("the portal's log", lambda: b"Serving the partners'" in log.read_bytes(), timeout=120, every=0.2)
        time.sleep(0.5)
        text = log.read_text(encoding="utf-8")
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    assert "portal: no Prefect server: uploads are stored, but nothing reads them" in text
    status = subprocess.run([utkast, "status", "--out", str(tmp_path / "out")], env=env, capture_output=True,
                            text=True, timeout=120)
    assert "Warning: no Prefect server: uploads are stored, but nothing reads them" in status.stderr
