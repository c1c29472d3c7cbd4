"""Load on the stack for real: 14 partners × 20 files uploaded over two minutes into the S3
inbox of a SeaweedFS on 127.0.0.1, each with the partner's own credentials, and one
``inbox.file.arrived`` event per file posted to the Prefect API the way a bucket notification
does; the event trigger and two process workers (PostgreSQL stack) do the rest, then the
nightly build runs. The second test kills a worker (and the run it was doing) halfway.

What is asserted is what a coordinator would check: every file has exactly one verdict in the
tracker (accepted, superseded or rejected, as its name and order say it should), none is lost or
converted twice, the draft holds every accepted report, nothing is torn. The timings (upload
to verdict: median and 95th percentile; files per minute) are printed and written to
bench-results/, never asserted. Each test has a hard limit (:data:`HARD_LIMIT`) after which it
stops, and its fixture stops everything it started.
"""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flows.watch import arrival_event
from tasks.storage.s3 import S3Storage
from tests.builders import make_docx
from tests.conftest import ROOT
from tests.faults import inconsistencies, torn_files
from tests.stacks import (
    api_settings,
    frozen,
    heartbeat_gaps,
    kill_worker,
    post_events,
    postgres_installed,
    private_base,
    read_events,
    running_stack,
    worker_of,
)

FILES_PER_PARTNER = 20
UPLOAD_SECONDS = 120
HARD_LIMIT = 15 * 60  # seconds; a test still running then fails and its fixture stops everything
VERDICT_WAIT = 8 * 60  # after the last upload, at most this long for the last verdict
CONVERTED = "Konverterade i den här körningen: "


class HardLimit(Exception):
    pass


@pytest.fixture
def load_stack():
    """A SeaweedFS and a PostgreSQL stack with two workers, both of this test's own; the
    workers get the coordinator's bucket credentials. Everything is stopped by PID afterwards."""
    if not postgres_installed():
        pytest.skip("Debian's postgresql is not installed (.ci/run installs it: apt-get install postgresql)")
    from scripts.local_bucket import start, stop

    def too_long(signum, frame):
        raise HardLimit(f"the load test ran longer than {HARD_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, HARD_LIMIT)
    base = private_base("utkast-load-")
    bucket = start(base / "bucket", port=0)
    try:
        env = {"AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
               **bucket.env("coordinator")}
        with running_stack(base, workers=2, postgres=True, env_extra=env) as stack:
            yield stack, bucket
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        stop(base / "bucket")
        shutil.rmtree(base, ignore_errors=True)


def load_plan(config) -> list[dict]:
    """The files, in upload order (round by round over the partners), each with the verdict
    its name and order give it: per partner 16 reports on 16 pieces, 2 of them sent again later
    (the first versions superseded), a PDF and a file without a piece number (rejected)."""
    partners = [p.slug for p in config.registry.partners]
    pieces = list(config.outline.pieces)
    plan = []
    for i in range(FILES_PER_PARTNER):
        for n, slug in enumerate(partners):
            text = f"{slug} skriver rapport {i}: arbetsträning i butiken ger rutiner och referenser. " * 8
            if i < 16:
                piece = pieces[(n + i) % len(pieces)]
                name, verdict = f"{piece} Rapport {i}", ("superseded" if i < 2 else "accepted")
            elif i < 18:
                piece = pieces[(n + i - 16) % len(pieces)]
                name, verdict = f"{piece} Rapport {i} ny version", "accepted"
            if i < 18:
                if i % 4 == 3:
                    name, data = name + ".md", (text + "\n").encode()
                else:
                    name, data = name + ".docx", make_docx([text, f"Version {i} från {slug}."])
            elif i == 18:
                name, data, verdict = f"Bilaga {i}.pdf", b"%PDF-1.4\n% not a report\n", "rejected"
            else:
                name, data, verdict = "anteckningar.docx", make_docx([text]), "rejected"
            plan.append({"partner": slug, "key": f"{slug}/{name}", "data": data, "verdict": verdict})
    return plan


def verdicts(status: dict) -> list[tuple[str, str]]:
    """(file key, verdict) for every file the tracker names, repeats included."""
    found = [(cell["source"], "accepted") for cell in status["cells"].values()
             if cell.get("state") in ("received", "over_length")]
    found += [(r["key"], "rejected") for r in status["rejected"]]
    found += [(s["key"], "superseded") for s in status.get("superseded", [])]
    return found


class Watcher(threading.Thread):
    """Reads the tracker (status.json) every two seconds; notes when each file first got a verdict."""

    def __init__(self, out: S3Storage):
        super().__init__(daemon=True)
        self.out, self.first_seen, self.stop = out, {}, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                text = self.out.read_text("status.json")
            except Exception:  # storage busy: try again
                text = None
            if text:
                now = time.monotonic()
                for key, _verdict in verdicts(json.loads(text)):
                    self.first_seen.setdefault(key, now)
            self.stop.wait(2)


def run_load(stack: dict, bucket, config, name: str, kill_halfway: bool = False) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, LogFilter, LogFilterFlowRunId
    from prefect.deployments import run_deployment

    inbox_url, out_url = f"s3://{bucket.bucket}/inbox", f"s3://{bucket.bucket}/outputs"
    out = S3Storage(bucket.bucket, "outputs", client=bucket.client())
    inbox = S3Storage(bucket.bucket, "inbox", client=bucket.client())
    plan = load_plan(config)
    clients = {slug: bucket.client(slug) for slug in {f["partner"] for f in plan}}
    watcher = Watcher(out)
    watcher.start()
    uploaded, killed = {}, None
    start, wall_start = time.monotonic(), datetime.now(timezone.utc)
    with api_settings(stack), get_client(sync_client=True) as client:
        for k, f in enumerate(plan):
            time.sleep(max(0.0, start + k * UPLOAD_SECONDS / len(plan) - time.monotonic()))
            clients[f["partner"]].put_object(Bucket=bucket.bucket, Key=f"inbox/{f['key']}", Body=f["data"])
            uploaded[f["key"]] = time.monotonic()
            event = arrival_event(f["key"], inbox_url, out_url)
            event.update(id=str(uuid.uuid4()), occurred=datetime.now(timezone.utc).isoformat())
            assert post_events(stack, [event]) in (200, 202, 204)
            if kill_halfway and killed is None and time.monotonic() - start >= UPLOAD_SECONDS / 2:
                killed = kill_a_busy_worker(stack, client)
        while killed is None and kill_halfway:  # nothing was running at half time: kill the next run
            killed = kill_a_busy_worker(stack, client)
            time.sleep(0.5)
        last_upload = time.monotonic()
        deadline = last_upload + VERDICT_WAIT
        while set(uploaded) - set(watcher.first_seen) and time.monotonic() < deadline:
            time.sleep(2)
        all_verdicts = time.monotonic()
        watcher.stop.set()
        watcher.join()
        nightly_started = time.monotonic()
        nightly = run_deployment("build_draft/nightly-draft", timeout=900,
                                 parameters={"inbox": inbox_url, "out": out_url})
        nightly_seconds = time.monotonic() - nightly_started
        watch_id = client.read_deployment_by_name("intake/inbox-watch").id
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(), limit=200)
        ours = [r for r in runs if r.parameters.get("out") == out_url]
        logs, page = [], None
        while page is None or len(page) == 200:  # every log line of these runs, 200 at a time
            page = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.id for r in ours])),
                                    limit=200, offset=len(logs))
            logs += page
        states = {str(r.id): [s.name for s in client.read_flow_run_states(r.id)] for r in ours}
        if killed:  # started again by Prefect; it may still wait for its turn (one inbox-watch run reads at a time)
            end = time.monotonic() + 300
            while not (run := client.read_flow_run(uuid.UUID(killed["run"]))).state.is_final() and time.monotonic() < end:
                time.sleep(2)
            killed["final"] = run.state.name
            killed["states"] = [s.name for s in client.read_flow_run_states(run.id)]
    # How late heartbeats came under this load (a live run silent for SILENCE_SECONDS is crashed):
    # the killed run's own gap across its kill is not one of them.
    gaps = {run: gap for run, gap in heartbeat_gaps(read_events(stack, "prefect.flow-run.heartbeat", wall_start)).items()
            if not (killed and run == killed["run"])}

    latencies = sorted(watcher.first_seen[k] - uploaded[k] for k in uploaded if k in watcher.first_seen)
    converted_by_run: dict[str, list[str]] = {}
    for entry in logs:
        if entry.message.startswith(CONVERTED):
            converted_by_run.setdefault(str(entry.flow_run_id), []).extend(entry.message[len(CONVERTED):].split("; "))
    converted = Counter(key for keys in converted_by_run.values() for key in keys)
    report = {
        "name": name, "files": len(plan), "partners": len(clients), "upload_seconds": UPLOAD_SECONDS,
        "workers": 2, "worker_killed": killed and {k: v for k, v in killed.items() if k != "states"},
        "verdict_seconds_median": round(statistics.median(latencies), 1) if latencies else None,
        "verdict_seconds_p95": round(latencies[max(0, int(0.95 * len(latencies)) - 1)], 1) if latencies else None,
        "verdict_seconds_max": round(latencies[-1], 1) if latencies else None,
        "files_per_minute": round(len(latencies) / ((all_verdicts - start) / 60), 1),
        "nightly_seconds": round(nightly_seconds, 1),
        "intake_runs": sum(1 for r in ours if r.deployment_id == watch_id),
        "conversions": sum(converted.values()),
        "converted_again": sum(1 for n in converted.values() if n > 1),
        "heartbeat_gap_max_seconds": round(max(gaps.values()), 1) if gaps else None,
        "heartbeat_runs": len(gaps),
        # Each inbox-watch run: when it started after the first upload, how long it ran, its end state.
        "intake_run_timeline": sorted(
            [round((r.start_time - wall_start).total_seconds()) if r.start_time else None,
             round(r.total_run_time.total_seconds()), r.state.name]
            for r in ours if r.deployment_id == watch_id and r.start_time),
    }
    Path(ROOT / "bench-results").mkdir(exist_ok=True)
    names = {r.id: r.name for r in ours}
    (ROOT / "bench-results" / f"load-{name}-runs.log").write_text("\n".join(
        f"{e.timestamp.isoformat()} {names.get(e.flow_run_id, '?')}: {e.message[:300]}"
        for e in sorted(logs, key=lambda e: e.timestamp)), encoding="utf-8")
    (ROOT / "bench-results" / f"load-{name}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nload {name}: {json.dumps(report)}")
    return {"plan": plan, "uploaded": uploaded, "first_seen": watcher.first_seen, "out": out, "inbox": inbox,
            "nightly": nightly, "converted": converted, "converted_by_run": converted_by_run, "killed": killed,
            "report": report, "states": states}


def kill_a_busy_worker(stack: dict, client) -> dict | None:
    """SIGKILL the worker (and the flow-run process) of a running flow run, if one runs."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    running = client.read_flow_runs(flow_run_filter=FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))))
    for run in running:
        if not run.infrastructure_pid:
            continue
        flow_pid = int(str(run.infrastructure_pid).rsplit(":", 1)[-1])
        worker = worker_of(stack, flow_pid)
        if not worker:
            continue
        # A run listed as running may end before the kill lands (a CI run once killed one that had
        # just completed): its process is stopped while its state is read again, and killed only
        # if it is still running.
        try:
            with frozen(flow_pid):
                if client.read_flow_run(run.id).state.is_final():
                    continue
                kill_worker(stack["pids"][worker], flow_pid)
        except ProcessLookupError:  # its process had already ended
            continue
        return {"worker": worker, "run": str(run.id), "flow": run.name}
    return None


def check_outcome(result: dict, may_convert_again: set[str] = frozenset()) -> None:
    """What the coordinator would check after the load; ``may_convert_again``: files a killed
    run had converted but not recorded (their results are not trusted, so they are converted
    again unless the persisted result of the same batch is found)."""
    plan, out, inbox = result["plan"], result["out"], result["inbox"]
    status = json.loads(out.read_text("status.json"))
    named = verdicts(status)
    counts = Counter(key for key, _ in named)
    expected = {f["key"]: f["verdict"] for f in plan}
    lost = sorted(set(expected) - set(counts))
    doubled = sorted(k for k, n in counts.items() if n > 1)
    assert lost == [], f"{len(lost)} files lost: {lost[:5]}"
    assert doubled == [], f"{len(doubled)} files with two verdicts: {doubled[:5]}"
    assert dict(named) == expected
    assert set(result["first_seen"]) == set(expected)  # every file got its verdict while the load ran
    twice = sorted(k for k, n in result["converted"].items() if n > 1 and k not in may_convert_again)
    assert twice == [], f"converted more than once: {twice[:5]}"
    assert result["nightly"].state.is_completed(), result["nightly"].state
    killed = (result["killed"] or {}).get("run")
    crashed_alive = sorted(run for run, names in result["states"].items() if "Crashed" in names and run != killed)
    assert crashed_alive == [], f"runs nobody killed were crashed (heartbeats too late?): {crashed_alive}"
    latest = json.loads(out.read_text("drafts/latest.json"))
    manifest = json.loads(out.read_text(latest["manifest"]))
    accepted = {k for k, v in expected.items() if v == "accepted"}
    assert {r["source"] for r in manifest["reports"]} == accepted
    assert torn_files(out) == [] and inconsistencies(out, inbox) == []


def test_load_280_files_from_14_partners_with_two_workers(load_stack, config):
    stack, bucket = load_stack
    result = run_load(stack, bucket, config, "two-workers")
    check_outcome(result)


def test_load_with_a_worker_killed_halfway(load_stack, config):
    stack, bucket = load_stack
    result = run_load(stack, bucket, config, "worker-killed", kill_halfway=True)
    killed = result["killed"]
    assert killed, "no run was running to kill"
    # Prefect noticed the dead run and started it again; nobody did anything by hand.
    assert "Crashed" in killed["states"] and killed["final"] == "Completed", killed
    check_outcome(result, may_convert_again=set(result["converted_by_run"].get(killed["run"], [])))


def test_the_load_plan_gives_every_verdict(config):
    plan = load_plan(config)
    verdict_counts = Counter(f["verdict"] for f in plan)
    assert len(plan) == len(config.registry.partners) * FILES_PER_PARTNER
    assert set(verdict_counts) == {"accepted", "superseded", "rejected"}
    assert len({f["key"] for f in plan}) == len(plan)
