#!/usr/bin/env python3
"""Benchmark utkast against the plain pandoc script a coordinator would otherwise write.

    .venv/bin/python scripts/bench.py --n 300 --poll-n 1500 --json bench-results/bench.json

Everything is measured in one run on the same machine, so the ratios hold even when the
machine's speed drifts between runs. Standard library timing only (wall clock of whole
commands, ``os.wait4`` for a process's peak memory). What it measures:

- baseline: the plain pandoc script, sequential: each file to Markdown with the pandoc
  CLI, then one pandoc call merging all of them into a .docx;
- ``utkast build --no-review --formats docx`` cold over the same N files (ratio to the
  baseline), then again after changing one file (ratio to the cold build);
- the Prefect overhead: the same cold build in one process through the flow and through
  the plain functions called directly (``flows.build.build_steps`` without Prefect);
- an idle poll, ``utkast intake --no-review`` with nothing changed over ``--poll-n``
  files, on a local folder and on a local S3 server (SeaweedFS): the whole command, and the
  flow run alone as a deployment's worker would pay it;
- review throughput in words per second (embedded engine), when the review step exists;
- peak memory (RSS) of the pipeline process.

Builds run against a Prefect server started here (as on the coordinator's stack), so no
command pays for Prefect's temporary server; a separate line shows that start-up cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
TARGETS = {  # from the performance issue; ratios measured in the same run
    "cold_vs_baseline": ("<=", 0.6),
    "incremental_vs_cold": ("<=", 0.05),
    "idle_poll_local_flow_s": ("<", 2.0),
    "idle_poll_s3_flow_s": ("<", 5.0),
    "prefect_overhead": ("<=", 1.15),
    "peak_rss_mb": ("<", 1024),
    "review_vs_engine": (">=", 1.5),
    "review_words_per_second": (">=", 2000),
}


def run(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run a command; return wall seconds, peak RSS (MB, the process and its waited children)
    and exit status. Output is kept in the result only when the command fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    result = {"seconds": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit": code}
    if code != 0:
        result["output"] = output.decode("utf-8", "replace")[-3000:]
        raise SystemExit(f"command failed ({code}): {shlex.join(map(str, cmd))}\n{result['output']}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrefectServer:
    """A Prefect server on 127.0.0.1 for the benchmark's commands (SQLite in a temp home)."""

    def __init__(self, home: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.env = dict(os.environ, PREFECT_HOME=str(home), DO_NOT_TRACK="1",
                        PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
        self.proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        self.env["PREFECT_API_URL"] = self.url
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise SystemExit("the Prefect server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def baseline(inbox: Path, work: Path) -> dict:
    """The plain pandoc script, as a shell loop, run by /bin/sh."""
    import pypandoc

    pandoc = pypandoc.get_pandoc_path()
    md = work / "baseline"
    shutil.rmtree(md, ignore_errors=True)
    md.mkdir(parents=True)
    lines = ["set -e"]
    for i, path in enumerate(sorted(p for p in inbox.rglob("*") if p.is_file())):
        lines.append(f"{shlex.quote(pandoc)} {shlex.quote(str(path))} -t markdown -o {md}/{i:05d}.md")
    lines.append(f"{shlex.quote(pandoc)} {md}/*.md -o {md}/merged.docx")
    script = work / "baseline.sh"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run(["/bin/sh", str(script)])


def change_one_file(inbox: Path) -> Path:
    """Append a sentence to one report (a new version of it, as a partner would save)."""
    from docx import Document

    path = sorted(inbox.rglob("*.docx"))[0]
    doc = Document(path)
    doc.add_paragraph("Ett tillägg i en ny version av rapporten.")
    doc.save(path)
    return path


def utkast(args: list[str], env: dict) -> dict:
    return run([str(BIN / "utkast"), *args], env=env)


def in_process(code: str, env: dict) -> dict:
    """Run a Python snippet that prints JSON; return what it printed."""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"in-process measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


OVERHEAD = """
import json, shutil, sys, tempfile, time
sys.path.insert(0, {root!r})
from flows.build import build_draft
from scripts.bench import build_directly
inbox = {inbox!r}
result = {{"flow": [], "direct": []}}
for name in ["direct", "flow"] * {rounds}:  # alternate, so drift hits both alike
    out = tempfile.mkdtemp(prefix="utkast-bench-")
    start = time.perf_counter()
    if name == "flow":
        build_draft(inbox=inbox, out=out, review=False, formats=["docx"])
    else:
        build_directly(inbox, out, formats=["docx"])
    result[name].append(time.perf_counter() - start)
    shutil.rmtree(out, ignore_errors=True)
print(json.dumps(result))
"""


def build_directly(inbox_url: str, out_url: str, formats: list[str]) -> str:
    """The reference for the Prefect overhead: the steps of a cold ``build_draft`` with
    ``--no-review`` (flows/build.py and flows/intake.py), called as plain functions in the
    flow's order, with no Prefect at all. Keep it in step with the flows. Returns the version."""
    from tasks.core.config import load_config
    from tasks.draft.catalogue import publish, read_latest
    from tasks.draft.index import write_index
    from tasks.draft.manifest import build_manifest, draft_fingerprint, new_version
    from tasks.draft.merge import merge_sections
    from tasks.draft.render import render_draft
    from tasks.intake.inbox import scan_inbox, write_rejections
    from tasks.intake.normalise import (
        apply_conversions,
        convert_files,
        pending_conversions,
        plan_conversions,
    )
    from tasks.intake.tracker import build_tracker, write_tracker
    from tasks.personal.rules import load_rules
    from tasks.personal.scan import scan_reports, with_masked_titles
    from tasks.roundtrip.changes import publish_changes
    from tasks.roundtrip.feedback import harvest_feedback
    from tasks.roundtrip.points import open_review_counts
    from tasks.storage import open_storage
    from tasks.storage.base import scratch_dir
    from tasks.storage.state import load_state, save_state

    config = load_config()
    inbox, out = open_storage(inbox_url), open_storage(out_url)
    with out.lock():
        harvest_feedback(inbox, out, config)
        state = load_state(out)
        files = scan_inbox(inbox, config, state.screening)
        todo, reports = plan_conversions(files, state.conversions)
        while todo:
            results = convert_files(inbox, pending_conversions(todo, state.conversions), config)
            todo = apply_conversions(out, files, todo, results, state.conversions, config, reports,
                      checkpoint=lambda: save_state(out, state))
        personal = scan_reports(out, reports, load_rules(config.templates, config.registry), state.personal)
        reports = with_masked_titles(reports, personal)
        write_rejections(out, files, config, state.notes)
        save_state(out, state)
        write_tracker(out, build_tracker(files, reports, config, feedback_open=open_review_counts(out),
                                         personal=personal.summaries), config)
        chosen = list(reports.values())
        fingerprint = draft_fingerprint(chosen, config, formats, None, [])
        sections = merge_sections(out, chosen, config, None, formats)
        created = time.time()
        version = new_version(fingerprint, created)
        with scratch_dir() as tmp:
            rendered = render_draft(out, sections, chosen, config, version, created, formats, Path(tmp), None, [])
            manifest = build_manifest(rendered, fingerprint, files, chosen, config, read_latest(out), {})
            publish_changes(out, config, rendered, manifest, None)
            publish(out, rendered, manifest)
        write_index(out, config, config.settings.link_seconds)
    return version


IDLE_FLOW = """
import json, time
from flows.intake import intake
start = time.perf_counter()
intake(inbox={inbox!r}, out={out!r}, review=False)
print(json.dumps({{"seconds": time.perf_counter() - start}}))
"""


def review_throughput(env: dict, rounds: int) -> dict:
    """Words per second of the review (scripts/bench_review.py: engine alone, the pipeline's
    review in one process and on all cores, and through a LanguageTool server)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "review.json"
        run([sys.executable, str(ROOT / "scripts" / "bench_review.py"), "--rounds", str(rounds), "--json", str(out)],
            env=env)
        return json.loads(out.read_text(encoding="utf-8"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="reports in the build benchmark")
    ap.add_argument("--poll-n", type=int, default=1500, help="reports in the idle-poll benchmark")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=ROOT / "bench-results" / "bench.json")
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    ap.add_argument("--no-s3", action="store_true", help="skip the idle poll on the local S3 server")
    ap.add_argument("--rounds", type=int, default=3, help="flow/direct pairs for the Prefect overhead")
    args = ap.parse_args()

    from scripts.make_corpus import generate

    work = Path(args.work or tempfile.mkdtemp(prefix="utkast-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "n": args.n, "poll_n": args.poll_n, "seed": args.seed,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    server = PrefectServer(work / "prefect-home")
    try:
        print(f"corpus: {args.n} reports ...", flush=True)
        inbox = work / "build" / "inbox"
        templates = generate(args.n, args.seed, inbox)
        env = dict(server.env, UTKAST_TEMPLATES=str(templates))

        print("baseline: plain pandoc script ...", flush=True)
        results["baseline"] = baseline(inbox, work)

        print("utkast build, cold ...", flush=True)
        out = work / "build" / "outputs"
        build = ["build", "--no-review", "--formats", "docx", "--inbox", str(inbox), "--out", str(out)]
        results["cold"] = utkast(build, env)
        change_one_file(inbox)
        print("utkast build, one file changed ...", flush=True)
        results["incremental"] = utkast(build, env)

        print("Prefect overhead: flow vs direct calls ...", flush=True)
        overhead = in_process(OVERHEAD.format(root=str(ROOT), inbox=str(inbox), rounds=args.rounds), env)
        results["prefect"] = {k: [round(v, 3) for v in runs] for k, runs in overhead.items()}

        tmp_server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
        print("utkast build, cold, with Prefect's temporary server ...", flush=True)
        results["cold_temporary_server"] = utkast(
            ["build", "--no-review", "--formats", "docx", "--inbox", str(inbox), "--out", str(work / "tmpserver")],
            tmp_server_env)

        print(f"corpus: {args.poll_n} reports for the idle poll ...", flush=True)
        poll_inbox = work / "poll" / "inbox"
        poll_templates = generate(args.poll_n, args.seed + 1, poll_inbox)
        penv = dict(server.env, UTKAST_TEMPLATES=str(poll_templates))
        poll_out = work / "poll" / "outputs"
        print("utkast intake, cold (not a target) ...", flush=True)
        results["poll_cold_local"] = utkast(["intake", "--no-review", "--inbox", str(poll_inbox),
                                             "--out", str(poll_out)], penv)
        print("utkast intake, idle, local folder ...", flush=True)
        results["poll_idle_local"] = utkast(["intake", "--no-review", "--inbox", str(poll_inbox),
                                             "--out", str(poll_out)], penv)
        results["poll_idle_local_flow"] = in_process(IDLE_FLOW.format(inbox=str(poll_inbox), out=str(poll_out)), penv)

        if not args.no_s3:
            from scripts.local_bucket import start, stop, upload

            bucket_dir = work / "bucket"
            bucket = start(bucket_dir, port=0)
            try:
                print("local S3: uploading the poll inbox ...", flush=True)
                upload(poll_inbox, f"s3://{bucket.bucket}/inbox", dir=bucket_dir)
                senv = dict(penv, **bucket.env("coordinator"))
                s3_in, s3_out = f"s3://{bucket.bucket}/inbox", f"s3://{bucket.bucket}/outputs"
                print("utkast intake over S3, cold (not a target) ...", flush=True)
                results["poll_cold_s3"] = utkast(["intake", "--no-review", "--inbox", s3_in, "--out", s3_out], senv)
                print("utkast intake over S3, idle ...", flush=True)
                results["poll_idle_s3"] = utkast(["intake", "--no-review", "--inbox", s3_in, "--out", s3_out], senv)
                results["poll_idle_s3_flow"] = in_process(IDLE_FLOW.format(inbox=s3_in, out=s3_out), senv)
            finally:
                stop(bucket_dir)

        print("review throughput ...", flush=True)
        results["review"] = review_throughput(env, args.rounds)
    finally:
        server.stop()

    ratios = {
        "cold_vs_baseline": results["cold"]["seconds"] / results["baseline"]["seconds"],
        "incremental_vs_cold": results["incremental"]["seconds"] / results["cold"]["seconds"],
        "prefect_overhead": statistics.median(results["prefect"]["flow"])
        / statistics.median(results["prefect"]["direct"]),
        "idle_poll_local_flow_s": results["poll_idle_local_flow"]["seconds"],
        "peak_rss_mb": max(results["cold"]["peak_rss_mb"], results["poll_cold_local"]["peak_rss_mb"]),
    }
    review = results["review"]["results"]
    ratios["review_vs_engine"] = review["pipeline"]["ratio_to_engine"]
    ratios["review_words_per_second"] = review["pipeline"]["words_per_second"]
    if "poll_idle_s3_flow" in results:
        ratios["idle_poll_s3_flow_s"] = results["poll_idle_s3_flow"]["seconds"]
    results["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    compare = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b}
    results["targets"] = {k: {"target": f"{op} {limit}", "met": compare[op](ratios[k], limit)}
                          for k, (op, limit) in TARGETS.items() if k in ratios}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print_table(results)
    print(f"\nJSON: {args.json}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def print_table(r: dict) -> None:
    rows = [
        ("baseline: plain pandoc script", f"{r['baseline']['seconds']:.1f} s", ""),
        ("utkast build, cold", f"{r['cold']['seconds']:.1f} s", f"{r['ratios']['cold_vs_baseline']:.2f} x baseline"),
        ("utkast build, 1 file changed", f"{r['incremental']['seconds']:.1f} s",
         f"{r['ratios']['incremental_vs_cold']:.3f} x cold"),
        ("same cold build, temporary Prefect server", f"{r['cold_temporary_server']['seconds']:.1f} s", ""),
        ("flow vs direct calls, in-process (medians)",
         f"{statistics.median(r['prefect']['flow']):.1f} / {statistics.median(r['prefect']['direct']):.1f} s",
         f"{r['ratios']['prefect_overhead']:.2f} x"),
        (f"idle poll, {r['poll_n']} files, local: command", f"{r['poll_idle_local']['seconds']:.2f} s", ""),
        (f"idle poll, {r['poll_n']} files, local: flow run", f"{r['poll_idle_local_flow']['seconds']:.2f} s", ""),
    ]
    if "poll_idle_s3" in r:
        rows += [(f"idle poll, {r['poll_n']} files, S3: command", f"{r['poll_idle_s3']['seconds']:.2f} s", ""),
                 (f"idle poll, {r['poll_n']} files, S3: flow run", f"{r['poll_idle_s3_flow']['seconds']:.2f} s", "")]
    rows.append(("peak RSS of the pipeline process", f"{r['ratios']['peak_rss_mb']:.0f} MB", ""))
    for path, v in r["review"]["results"].items():
        rows.append((f"review words/s: {path}", f"{v['words_per_second']:,.0f}", f"{v['ratio_to_engine']:.2f} x engine"))
    width = max(len(a) for a, _, _ in rows)
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:>14}  {c}")
    print()
    for key, t in r["targets"].items():
        print(f"{'met ' if t['met'] else 'MISSED'}  {key} {t['target']} (measured {r['ratios'][key]})")


if __name__ == "__main__":
    sys.exit(main())
