"""Faults on the shared bucket, against real SeaweedFS servers on 127.0.0.1: the S3 server
stopped in the middle of publishing, two builds at once, a build killed while it holds the
lock, and secrets that must never show up in anything a run leaves behind."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from docx import Document

from tests.builders import make_docx
from tests.faults import cli_env, inconsistencies, start_cli, torn_files, wait_for


def _use_bucket(monkeypatch, server) -> None:
    """The coordinator's credentials for ``server`` in the environment, nothing else of AWS
    (as the ``s3_env`` fixture does for the session's bucket)."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "UTKAST_AWS_CREDENTIALS_BLOCK":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def private_bucket(tmp_path, monkeypatch):
    """A SeaweedFS of this test's own: stopping it leaves the session's bucket alone."""
    from scripts.local_bucket import start, stop

    root = tmp_path / "bucket"
    server = start(root, port=0)
    try:
        _use_bucket(monkeypatch, server)
        yield server
    finally:
        stop(root)


def _urls(server) -> tuple[str, str, str]:
    """A prefix of the test's own, and the inbox and outputs under it."""
    prefix = f"f-{secrets.token_hex(4)}"
    return prefix, f"s3://{server.bucket}/{prefix}/inbox", f"s3://{server.bucket}/{prefix}/outputs"


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _docx_text(data: bytes) -> str:
    return "\n".join(p.text for p in Document(io.BytesIO(data)).paragraphs)


def test_s3_stopped_while_publishing_fails_clearly_keeps_the_last_draft_and_a_rerun_publishes(
        prefect_harness, private_bucket, monkeypatch, capsys):
    from flows import build
    from flows.cli import main
    from scripts.local_bucket import start, stop
    from tasks.draft.catalogue import list_versions
    from tasks.storage import open_storage
    from tasks.storage.s3 import S3Storage

    server = private_bucket
    prefix, inbox, out = _urls(server)
    client = server.client()
    client.put_object(Bucket=server.bucket, Key=f"{prefix}/inbox/myrorna/1.3 Kvalitet.docx",
                      Body=make_docx(["Myrorna arbetar med kvalitetssäkring i alla butiker."]))
    client.put_object(Bucket=server.bucket, Key=f"{prefix}/inbox/forum/5.1 Avstämning.md",
                      Body="# Avstämning\n\nMötet i april enades om gemensamma kriterier.\n".encode())
    args = ["build", "--inbox", inbox, "--out", out, "--no-review", "--formats", "docx,html"]
    assert main(args) == 0
    first = capsys.readouterr().out
    previous = re.search(r"^Draft (\S+) published\.", first, re.M).group(1)
    links = dict(re.findall(r"^  (docx|html)\s+(http://\S+)$", first, re.M))  # what reviewers were given
    assert set(links) == {"docx", "html"}

    # A new report, so the next build publishes a new draft; the server stops as soon as the
    # first file of that draft is stored, before the rest of it.
    client.put_object(Bucket=server.bucket, Key=f"{prefix}/inbox/stadsmissionen/2.1 Stöd.docx",
                      Body=make_docx(["Stadsmissionen ger stöd och matchning."]))
    uploads, write_file = [], S3Storage.write_file

    def write_then_stop(self, key, source, content_type=None):
        uploads.append(key)
        write_file(self, key, source, content_type)
        if len(uploads) == 1 and key.startswith("drafts/"):
            stop(server.dir)

    monkeypatch.setattr(S3Storage, "write_file", write_then_stop)
    # The publish task is retried as always (twice), only without the waits between tries.
    monkeypatch.setattr(build, "publish_task", build.publish_task.with_options(retry_delay_seconds=0))
    assert main(args) == 3
    failed = capsys.readouterr()
    assert re.search(r"^utkast: storage problem: could not write s3://\S+/outputs/drafts/\S+/utkast\.\w+ "
                     r"\(at http://127\.0\.0\.1:\d+\): Could not connect", failed.err, re.M), failed.err
    assert "published" not in failed.out
    docx_key = uploads[0]
    assert docx_key.endswith("/utkast.docx") and uploads.count(docx_key) == 3  # three tries, then given up
    failed_version = docx_key.split("/")[1]
    secret = server.keys["coordinator"]["secret_key"]
    assert secret not in first + failed.out + failed.err

    # The server comes back (same data, address and keys). Nothing of the failed draft is
    # visible: latest.json still names the previous draft, and its links still download.
    monkeypatch.setattr(S3Storage, "write_file", write_file)
    start(server.dir, port=server.ports["s3.port"], keys=server.keys)
    store, source = open_storage(out), open_storage(inbox)
    assert json.loads(store.read("drafts/latest.json"))["version"] == previous
    assert store.exists(f"drafts/{failed_version}/utkast.docx")  # half a draft: one format of two
    assert not store.exists(f"drafts/{failed_version}/manifest.json")
    assert list_versions(store) == [previous]
    text = _docx_text(_download(links["docx"]))
    assert "Myrorna arbetar med kvalitetssäkring" in text and "Stadsmissionen" not in text
    assert "Mötet i april enades om gemensamma kriterier." in _download(links["html"]).decode("utf-8")

    # The rerun publishes at once (the lease the failed run could not release is taken
    # over, not waited for until it expires).
    monkeypatch.setattr(S3Storage, "lock_wait", 20)
    assert main(args) == 0
    rerun = capsys.readouterr().out
    version = re.search(r"^Draft (\S+) published\.", rerun, re.M).group(1)
    assert version not in (previous, failed_version)
    latest = json.loads(store.read("drafts/latest.json"))
    assert latest["version"] == version and set(latest["formats"]) == {"docx", "html"}
    manifest = json.loads(store.read(latest["manifest"]))
    assert {(r["partner"], r["piece"]) for r in manifest["reports"]} == {
        ("myrorna", "1.3"), ("forum", "5.1"), ("stadsmissionen", "2.1")}
    assert manifest["changes"]["previous"] == previous
    new_link = re.search(r"^  docx\s+(http://\S+)$", rerun, re.M).group(1)
    assert "Stadsmissionen ger stöd och matchning." in _docx_text(_download(new_link))
    assert torn_files(store) == [] and inconsistencies(store, source) == []
    assert not store.exists(".build.lock")
    assert list_versions(store) == [version, previous]
    page = store.read("drafts/index.html").decode("utf-8")
    assert version in page and previous in page and failed_version not in page


def test_two_builds_at_once_on_s3_take_turns_and_leave_one_consistent_draft(prefect_harness, s3_env, tmp_path):
    """Both builds are started while the test holds the outputs' lease, so both are certainly
    waiting for it at the same time; then it is released."""
    from tasks.storage import open_storage

    prefix, inbox, out = _urls(s3_env)
    client = s3_env.client()
    paragraph = "Arbetsträning i butiken ger deltagarna rutiner, kollegor och referenser. " * 8
    reports = {"myrorna": "1.3", "forum": "5.1", "stadsmissionen": "2.1", "verdandi": "4.2",
               "coompanion": "3.2", "erikshjalpen": "1.1"}
    for partner, piece in reports.items():
        client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}/inbox/{partner}/{piece} Rapport.docx",
                          Body=make_docx([f"Rapport från {partner}.", *[paragraph] * 30]))
    client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}/inbox/verdandi/3.1 Vägen.pdf", Body=b"%PDF-1.4 x")
    store, source = open_storage(out), open_storage(inbox)
    args = ["build", "--inbox", inbox, "--out", out, "--no-review", "--formats", "docx,html"]

    with store.lock():
        procs = [start_cli(args, tmp_path / f"build{i}.log") for i in range(2)]
        waiting = wait_for(lambda: _running_builds(out) == 2, limit=300)
        assert waiting, [(tmp_path / f"build{i}.log").read_text(errors="replace") for i in range(2)]
        assert all(p.poll() is None for p in procs) and list(store.list("drafts/")) == []
    codes = [p.wait(timeout=900) for p in procs]
    logs = [(tmp_path / f"build{i}.log").read_text(errors="replace") for i in range(2)]
    assert codes == [0, 0], logs
    published = [re.search(r"^Draft (\S+) published\.", log, re.M) for log in logs]
    assert sorted(bool(m) for m in published) == [False, True], logs
    version = next(m.group(1) for m in published if m)
    assert any(f"Nothing new since draft {version}" in log for log in logs), logs

    assert torn_files(store) == [] and inconsistencies(store, source) == []
    latest = json.loads(store.read("drafts/latest.json"))
    assert latest["version"] == version and set(latest["formats"]) == {"docx", "html"}
    assert {e.key.split("/")[1] for e in store.list("drafts/") if e.key.count("/") >= 2} == {version}
    normalised = sorted(e.key for e in store.list("normalised/") if e.key.endswith(".md"))
    assert normalised == sorted(f"normalised/{p}/{piece}.md" for p, piece in reports.items())
    assert [e.key for e in store.list("rejected/")] == ["rejected/verdandi/3.1 Vägen.pdf.txt"]
    assert not store.exists(".build.lock")


def _running_builds(out: str) -> int:
    """How many ``build_draft`` flow runs for ``out`` are running now (read from the Prefect API)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))))
    return sum(1 for run in runs if run.parameters.get("out") == out)


_HOLD_LOCK = """
import sys, time
from tasks.storage import open_storage
with open_storage(sys.argv[1]).lock():
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_lease_left_by_a_killed_build_is_taken_over_at_once_a_live_one_is_waited_for(s3_env):
    from tasks.core.errors import StorageError
    from tasks.storage import open_storage

    url = f"s3://{s3_env.bucket}/t-{secrets.token_hex(4)}"
    store = open_storage(url)
    store.lock_wait = 0
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, url], stdout=subprocess.PIPE,
                              env=cli_env(), cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        assert holder.stdout.readline() == b"held\n"
        with pytest.raises(StorageError, match="another build holds"):  # it runs: wait for it
            with store.lock():
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a build killed while it holds the lock
        holder.wait()
    lease = json.loads(store.read(".build.lock"))
    assert lease["pid"] == holder.pid and lease["expires"] > time.time()
    with store.lock():  # the lease names a process of this machine that has ended
        assert json.loads(store.read(".build.lock"))["pid"] == os.getpid()
    assert not store.exists(".build.lock")

    # A lease of another machine is only taken over when it expires.
    store.write(".build.lock", json.dumps({**lease, "machine": "elsewhere 1 pid:[1]"}).encode())
    with pytest.raises(StorageError, match="another build holds"):
        with store.lock():
            pass


_HOLD_SHORT_LEASE = """
import sys, time
from tasks.storage import open_storage
store = open_storage(sys.argv[1])
store.lease_seconds, store.lease_renew_seconds = 8, 1
with store.lock():
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_held_lease_is_renewed_and_one_nobody_renews_is_taken_over_when_it_runs_out(s3_env):
    """Builds on several machines: a live build keeps its lease by renewing it; the lease of a
    machine that died (nobody renews it) is taken over a lease period later, not hours later."""
    from tasks.core.errors import StorageError
    from tasks.storage import open_storage

    url = f"s3://{s3_env.bucket}/r-{secrets.token_hex(4)}"
    store = open_storage(url)
    store.lock_wait = 0
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_SHORT_LEASE, url], stdout=subprocess.PIPE,
                              env=cli_env(), cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        assert holder.stdout.readline() == b"held\n"
        first = json.loads(store.read(".build.lock"))
        time.sleep(10)  # longer than the lease: only the renewals keep it
        renewed = json.loads(store.read(".build.lock"))
        assert renewed["owner"] == first["owner"] and renewed["expires"] > first["expires"] > 0
        with pytest.raises(StorageError, match="another build holds"):
            with store.lock():
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    # The same lease as if its machine had died: not renewed any more, and not of this machine.
    lease = json.loads(store.read(".build.lock"))
    store.write(".build.lock", json.dumps({**lease, "machine": "elsewhere 1 pid:[1]"}).encode())
    with pytest.raises(StorageError, match="another build holds"):  # still within its period
        with store.lock():
            pass
    time.sleep(max(0.0, lease["expires"] - time.time()) + 0.5)
    with store.lock():
        assert json.loads(store.read(".build.lock"))["pid"] == os.getpid()
    assert not store.exists(".build.lock")


def test_secrets_appear_in_no_output_artifact_log_or_message(prefect_harness, s3_env, tmp_path):
    """A build over S3, with the language review on a LanguageTool server that needs an
    account (API key, user name, and a password in the URL as for a server behind a proxy).
    None of those secrets, nor the S3 secret key, may appear in what the command prints
    (verbose), in any object under the outputs, in the run's artifacts, logs or record.
    The access key ID is not a secret: every presigned link carries it (X-Amz-Credential)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
        LogFilter,
        LogFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    from tests.hostile import find_token
    from tests.lt_server import LanguageToolStandIn

    prefix, inbox, out = _urls(s3_env)
    client = s3_env.client()
    client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}/inbox/myrorna/1.3 Kvalitet.docx",
                      Body=make_docx(["Myrorna arbetar arbetar med kvalitet i alla butiker."]))
    client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}/inbox/forum/5.1 Avstämning.md",
                      Body="# Avstämning\n\nMötet  i april enades om gemensamma kriterier.\n".encode())
    client.put_object(Bucket=s3_env.bucket, Key=f"{prefix}/inbox/verdandi/4.2 Motiv.pdf", Body=b"%PDF-1.4 x")
    access_key = s3_env.keys["coordinator"]["access_key"]
    secret_values = {
        "AWS_SECRET_ACCESS_KEY": s3_env.keys["coordinator"]["secret_key"],
        "LANGUAGETOOL_API_KEY": f"ltkey-{secrets.token_hex(12)}",
        "LANGUAGETOOL_USERNAME": f"granskare-{secrets.token_hex(6)}@example.org",
        "password in LANGUAGETOOL_URL": f"pw-{secrets.token_hex(12)}",
    }
    lt = LanguageToolStandIn().start()
    try:
        host = lt.url.removeprefix("http://")
        env = cli_env(LANGUAGETOOL_URL=f"http://proxyuser:{secret_values['password in LANGUAGETOOL_URL']}@{host}",
                      LANGUAGETOOL_USERNAME=secret_values["LANGUAGETOOL_USERNAME"],
                      LANGUAGETOOL_API_KEY=secret_values["LANGUAGETOOL_API_KEY"])
        env.pop("PREFECT_LOGGING_LEVEL")  # -v: Prefect's own INFO logs too
        proc = start_cli(["-v", "build", "--inbox", inbox, "--out", out, "--formats", "docx,html"],
                         tmp_path / "build.log", env)
        code = proc.wait(timeout=900)
    finally:
        lt.stop()
    printed = (tmp_path / "build.log").read_text(errors="replace")
    assert code == 0 and re.search(r"^Draft \S+ published\.", printed, re.M), printed
    # The secrets were in play: the checker server got the account, the links are signed.
    assert lt.requests and all(r.get("apiKey") == secret_values["LANGUAGETOOL_API_KEY"] and
                                r.get("username") == secret_values["LANGUAGETOOL_USERNAME"] for r in lt.requests)
    assert f"X-Amz-Credential={access_key}" in printed

    places = {"the command's output": printed}
    downloaded = tmp_path / "outputs"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_env.bucket, Prefix=f"{prefix}/outputs/"):
        for obj in page.get("Contents", []):
            path = downloaded / obj["Key"].removeprefix(f"{prefix}/outputs/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(client.get_object(Bucket=s3_env.bucket, Key=obj["Key"])["Body"].read())
    assert (downloaded / "review/myrorna/1.3.json").is_file() and (downloaded / "drafts/latest.json").is_file()

    with get_client(sync_client=True) as prefect:
        recent = prefect.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["build_draft"])),
                                        sort=FlowRunSort.START_TIME_DESC, limit=20)
        (run,) = [r for r in recent if r.parameters.get("out") == out]
        artifacts = prefect.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
        logs = prefect.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        task_runs = prefect.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id])))
    places["the run's artifacts"] = "\n".join(a.model_dump_json() for a in artifacts)
    places["the run's logs"] = "\n".join(entry.message for entry in logs)
    places["the flow and task run records"] = "\n".join(r.model_dump_json() for r in [run, *task_runs])
    assert "Språkgranskar" in places["the run's logs"] and f"X-Amz-Credential={access_key}" in places["the run's artifacts"]

    leaks = {(name, place) for name, value in secret_values.items()
             for place, text in places.items() if value in text}
    leaks |= {(name, hit) for name, value in secret_values.items() for hit in find_token(downloaded, value)}
    assert leaks == set()


def test_a_password_in_the_checker_url_stays_out_of_messages_when_the_server_is_down(caplog):
    import logging
    import socket

    from tasks.core.errors import CheckerUnavailable
    from tasks.review.checker import CheckerTuning, ServerChecker

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    password, api_key = f"pw-{secrets.token_hex(8)}", f"ltkey-{secrets.token_hex(8)}"
    checker = ServerChecker(f"http://proxyuser:{password}@127.0.0.1:{port}/",
                            CheckerTuning(retries=1, retry_delay_seconds=0), username="granskare", api_key=api_key)
    with caplog.at_level(logging.INFO), pytest.raises(CheckerUnavailable) as info:
        checker.check(["Myrorna arbetar med kvalitet."])
    message = str(info.value)
    assert message.startswith(f"LanguageTool server http://127.0.0.1:{port}/ did not answer"), message
    assert checker.description == f"LanguageTool-server http://127.0.0.1:{port}/"
    assert "retrying" in caplog.text
    for text in (message, caplog.text, checker.description, checker.engine_id):
        assert password not in text and "proxyuser" not in text and api_key not in text
