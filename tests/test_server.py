"""Which Prefect server a command uses: PREFECT_API_URL, else the checkout's stack when it
answers, else a temporary one (flows/prefect_api.py, no Prefect needed)."""

from __future__ import annotations

import json
import os

from flows.prefect_api import TEMPORARY_HINT, choose_server, find_server, read_env_file

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
