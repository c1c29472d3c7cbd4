"""The warm process's decisions (flows/warm.py): which commands it may run, and when it must
not. Running commands in it, against the stack, is in tests/test_prefect_server.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from flows.handover import wants_warm
from flows.warm import CHECKOUT, logging_settings, refusal, runs_here
from tests.builders import make_docx, put

QUIET = {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}
STAMP = {str(CHECKOUT / "flows" / "build.py"): (100, 1)}


@pytest.mark.parametrize(("argv", "warm"), [
    (["build"], True),
    (["build", "--no-review", "--formats", "docx", "--inbox", "s3://b/p"], True),
    (["intake", "--out", "x"], True),
    (["-v", "build"], False),  # Prefect's console is set up as Prefect is imported
    (["status"], False),
    (["review", "a.docx"], False),
    (["build", "--formats"], False),  # argparse's own message, from the command itself
    ([], False),
])
def test_only_flow_commands_without_v_run_in_the_warm_process(argv, warm):
    assert runs_here(argv) is warm
    assert wants_warm(argv) is (warm or argv == ["build", "--formats"])  # the command's quick look first


def test_a_command_line_the_warm_process_does_not_run_is_refused_with_a_reason():
    request = {"argv": ["build", "-h"], "checkout": str(CHECKOUT), "env": {}}
    assert "only `utkast build` and `utkast intake`" in refusal(request, logging_settings({}), STAMP, STAMP)


def test_a_command_runs_in_the_warm_process_only_with_its_code_and_prefects_logging():
    request = {"argv": ["build"], "checkout": str(CHECKOUT), "env": {"HOME": "/x", "PREFECT_API_URL": "http://127.0.0.1:1/api"}}
    loaded = logging_settings({})
    assert loaded == QUIET
    assert refusal(request, loaded, STAMP, dict(STAMP)) is None
    # Another checkout's command runs that checkout's code, itself.
    assert "/elsewhere" in refusal({**request, "checkout": "/elsewhere"}, loaded, STAMP, STAMP)
    # Code changed since the warm process loaded it (an edit, a pull, a new lock).
    assert refusal(request, loaded, STAMP, {str(CHECKOUT / "flows" / "build.py"): (101, 2)}) == \
        "its code has changed since it started"
    # Prefect's logging is set up when Prefect is imported: other logging settings, the command's own.
    assert "logging" in refusal({**request, "env": {"PREFECT_LOGGING_LEVEL": "DEBUG"}}, loaded, STAMP, STAMP)
    assert refusal({**request, "env": {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}}, loaded, STAMP,
                   STAMP) is None


def _reads_at_import(tree) -> list[int]:
    """Lines where a module reads the environment as it is loaded: outside any function body
    (module level, class bodies, default values of arguments)."""
    import ast

    def reads(node) -> bool:
        text = ast.unparse(node)
        return isinstance(node, (ast.Call, ast.Subscript)) and (
            text.startswith(("os.environ.get(", "os.getenv(", "os.environ[", "environ.get(", "getenv(")))

    found, todo = [], list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo += [*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]
            todo += getattr(node, "decorator_list", [])
            continue
        if reads(node):
            found.append(node.lineno)
        todo += list(ast.iter_child_nodes(node))
    return sorted(found)


def test_no_module_reads_the_environment_as_it_is_loaded():
    """The warm process loads the modules once and forks for each command, with the command's
    environment: a setting read when a module is loaded would be the warm process's, not the
    command's (the default configuration folder was, once)."""
    import ast

    offenders = {}
    for path in sorted([*(CHECKOUT / "tasks").rglob("*.py"), *(CHECKOUT / "flows").rglob("*.py")]):
        lines = _reads_at_import(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[str(path.relative_to(CHECKOUT))] = lines
    assert offenders == {}


def test_the_check_finds_a_read_at_import():
    import ast

    tree = ast.parse("import os\nA = os.environ.get('X')\ndef f(y=os.getenv('Y')):\n    return os.environ['Z']\n")
    assert _reads_at_import(tree) == [2, 3]


def test_a_request_is_read_whole_with_the_commands_terminal_and_a_bad_one_is_refused():
    """The request as the command sends it (flows/handover.py): its length and descriptors
    first, then the JSON. One that says nothing, or claims more than the limit, is refused
    without holding the warm process up."""
    import json
    import os
    import socket

    from flows.handover import FDS, HEADER
    from flows.warm import MAX_REQUEST, _receive

    client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with client, server:
        body = json.dumps({"argv": ["build"], "env": {"A": "å"}}).encode()
        socket.send_fds(client, [HEADER.pack(len(body))], list(FDS))
        client.sendall(body)
        request, fds = _receive(server)
        assert request == {"argv": ["build"], "env": {"A": "å"}} and len(fds) == 3
        assert all(os.path.samestat(os.fstat(fd), os.fstat(mine)) for fd, mine in zip(fds, FDS))
        for fd in fds:
            os.close(fd)

        socket.send_fds(client, [HEADER.pack(MAX_REQUEST + 1)], list(FDS))
        with pytest.raises(ValueError, match="too large"):
            _receive(server)

        server.settimeout(0.2)  # what the warm process gives a command to send its request
        with pytest.raises(OSError):
            _receive(server)


def test_the_warm_process_log_tells_which_fork_ran_a_command_and_how_it_ended():
    from flows.warm import fork_end, fork_of

    log = ("warm: ready on /tmp/utkast-warm-x/warm.sock (pid 10)\n"
           "warm: `utkast build` of process 31 runs in fork 32\n"
           "warm: `utkast intake` of process 3 runs in fork 33\n"
           "warm: fork 32 ended: exit 0, peak 245.2 MB\n"
           "warm: fork 33 ended: exit -15, peak 83.8 MB\n")
    assert fork_of(log, 31) == 32 and fork_of(log, 3) == 33 and fork_of(log, 1) is None
    assert fork_end(log, 32) == (0, 245.2) and fork_end(log, 33) == (-15, 83.8) and fork_end(log, 31) is None


LOADS = """
import json, sys
import flows.build, flows.intake  # as the warm process loads them (flows/warm.py: serve)
from flows.warm import preload
preload()
before = set(sys.modules)
from flows.cli import _in_process
summary = _in_process(flows.build.build_draft, inbox={inbox!r}, out={out!r})
print(json.dumps({{"version": summary.get("version"), "loaded": sorted(set(sys.modules) - before)}}))
"""


def test_a_build_in_a_fork_loads_no_module_the_warm_process_could_have_loaded_first(prefect_harness, tmp_path):
    """Each command's build runs in a fork of the warm process, so a module the build loads
    as it runs is loaded again by every command: Prefect's parameter encoder (fastapi), the
    event loop's backend and the telephone numbers' tables were about 0.1 s of each command.
    After :func:`flows.warm.preload`, a build as `utkast build` runs it by default (language
    review, docx, pdf and html) of reports with personal data loads none."""
    from prefect.settings import PREFECT_API_URL

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx([
        "Ring Anna Berg på 070-123 45 67 eller skriv till anna.berg@example.org om butikerna.",
        "Vi har träffats på Storgatan 1, 111 22 Stockholm, varje vecka sedan i våras."]))
    put(inbox, "verdandi/4.2 Motiv.md", "Verdandi om motiven för arbetet i butikerna.\n")
    done = subprocess.run([sys.executable, "-c", LOADS.format(inbox=str(inbox), out=str(out))], cwd=CHECKOUT,
                          env=dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value()), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["version"] and (out / "drafts" / result["version"] / "utkast.pdf").is_file()
    assert result["loaded"] == []


def test_ctrl_c_during_prefects_own_handling_of_it_still_ends_the_command_as_ctrl_c(monkeypatch, capsys):
    """Ctrl-C as Prefect creates a task run can come out as Prefect's own error, raised while
    it handled the KeyboardInterrupt ("Task run is not set"; a CI run of 2026-12-08). The
    command then ends as stopped by Ctrl-C (130), not as failed (1) with Prefect's traceback;
    a real failure still fails."""
    import flows.cli
    from flows.handover import interrupted
    from flows.warm import _command

    def stopped(argv):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ValueError("Task run is not set")  # noqa: B904 - as Prefect raises it

    def failed(argv):
        raise ValueError("something else")

    monkeypatch.setattr(flows.cli, "main", stopped)
    assert _command(["build"]) == 130
    assert "Task run is not set" not in capsys.readouterr().err
    monkeypatch.setattr(flows.cli, "main", failed)
    assert _command(["build"]) == 1
    assert "something else" in capsys.readouterr().err
    assert interrupted(KeyboardInterrupt()) and not interrupted(ValueError()) and not interrupted(None)
