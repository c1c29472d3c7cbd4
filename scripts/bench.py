#!/usr/bin/env python3
"""Benchmark utkast against the plain pandoc script a coordinator would otherwise write.

    .venv/bin/python scripts/bench.py --n 238 --profiles standard,plain --json bench-results/bench.json
    .venv/bin/python scripts/bench.py --n 1500 --profiles standard,plain --no-poll --no-s3 --rounds 1

Everything is measured in one run on the same machine, so the ratios hold even when the
machine's speed drifts between runs. Standard library timing only (wall clock of whole
commands, ``os.wait4`` for a process's peak memory). For each corpus profile
(``scripts/make_corpus.py``: ``standard``, ``plain``, ``mixed``) it measures:

- baseline: the plain pandoc script, sequential: each file to Markdown with the pandoc CLI,
  then one pandoc call merging all of them into a .docx; for the three formats the same
  Markdown merged into .docx, .html and .pdf (``--pdf-engine=typst``, the Typst compiler of
  the ``typst`` wheel behind a ``typst`` command);
- ``utkast build --no-review --formats docx`` cold (ratio to the baseline), then with nothing
  changed, then after changing one file (ratios to the cold build); and the cold build
  with ``--formats docx,pdf,html`` (ratio to the three-format baseline). They run as with the
  coordinator's stack up: in a fork of the stack's warm process (flows/warm.py), whose peak
  memory is the fork's; a cold build and one after a change are measured without it as well;
  ``--rounds`` alternating rounds in all of baseline and cold build, and of a build after one
  change and one with nothing changed: the targets take the medians of those pairs, since a
  single pair moves by about 8 %;
- where a cold build's time goes, stage by stage: the same steps as plain functions in one
  process (``build_directly``), and what the command adds (Prefect, starting Python); and
  where a build after one more changed file goes, the same way (the command's own stages are
  Prefect task runs: the plain functions show what the work itself costs);
- the Prefect overhead: the same cold build in one process through the flow, as ``utkast build``
  runs it (``flows.cli._in_process``), and through the plain functions called directly (first
  profile only); and the flow as a worker runs it, with Prefect's heartbeat thread, whose end
  the run's process waits for (up to a second after the run is completed);
- an idle poll, ``utkast intake --no-review`` with nothing changed over ``--poll-n``
  files, on a local folder and on a local S3 server (SeaweedFS): the whole command, and the
  flow run alone as a deployment's worker would pay it;
- review throughput in words per second (scripts/bench_review.py);
- peak memory (RSS) of the pipeline's processes.

It prints a table, writes everything as JSON (``--json``) and the table with every target as
the documentation's figures page (``--figures``, default ``docs/performance-figures.md``).

The commands find the benchmark's Prefect server and warm process the way ``utkast`` finds the
coordinator's stack (``.local/stack.json`` of ``UTKAST_HOME``, here a folder of the benchmark's):
no PREFECT_API_URL is set for them, and none starts a temporary server; a separate line shows
what that temporary server costs.
"""

from __future__ import annotations

import argparse
import contextlib
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
from tasks.draft.stamp import STAMP  # noqa: E402

BIN = Path(sys.executable).parent
TARGETS = {  # from the performance issues; ratios measured in the same run
    "cold_vs_baseline": ("<=", 0.6),  # per profile, docx
    "cold3_vs_baseline3": ("<=", 0.6),  # per profile, docx, pdf and html
    "one_changed_extra_vs_cold": ("<=", 0.05),  # (one changed - nothing changed) / cold, per profile
    "nothing_changed_vs_cold": ("<=", 0.10),  # per profile
    "stack_nothing_changed_s": ("<=", 3.0),  # per profile
    "stack_one_changed_s": ("<=", 3.0),  # per profile: the whole `utkast build` after one change (issue 25, N = 238)
    "idle_poll_local_flow_s": ("<", 2.0),
    "idle_poll_s3_flow_s": ("<", 5.0),
    "prefect_overhead": ("<=", 1.15),
    "peak_rss_mb": ("<", 1024),
    "peak_docx_mb": ("<=", 500),  # per profile: the largest process of the cold docx build (goal at N = 1,500)
    "peak_three_formats_mb": ("<=", 1536),  # per profile: the same for docx, pdf and html
    "review_vs_engine": (">=", 1.5),
    "review_words_per_second": (">=", 2000),
}
PER_PROFILE = ("cold_vs_baseline", "cold3_vs_baseline3", "one_changed_extra_vs_cold", "nothing_changed_vs_cold",
               "stack_nothing_changed_s", "stack_one_changed_s", "peak_docx_mb", "peak_three_formats_mb")


def run(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run a command; return wall seconds, peak RSS (MB, the process and its waited children)
    and exit status. Output is kept in the result only when the command fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    result = {"seconds": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit": code,
              "pid": proc.pid}
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

    warm = None

    def as_stack(self, home: Path) -> dict:
        """The environment of a command that finds this server as the coordinator's stack:
        ``UTKAST_HOME/.local/stack.json`` names it, and no PREFECT_API_URL is set. The stack's
        warm process is started as `stack up` starts it (flows/warm.py); :meth:`use_warm` turns
        it off and on for the commands."""
        self.state = home / ".local" / "stack.json"
        self.state.parent.mkdir(parents=True, exist_ok=True)
        self.warm_socket = Path(tempfile.mkdtemp(prefix="utkast-warm-")) / "warm.sock"
        self.warm_log = home / ".local" / "warm.log"
        with open(self.warm_log, "wb") as log:
            self.warm = subprocess.Popen([sys.executable, "-m", "flows.warm", "--socket", str(self.warm_socket)],
                                         cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        from scripts.stack import wait_for_warm

        try:
            wait_for_warm(self.warm_socket, self.warm.pid, self.warm_log)
        except SystemExit:
            self.stop()
            raise
        self.use_warm(True)
        env = {k: v for k, v in self.env.items() if k not in ("PREFECT_API_URL", "PREFECT_API_KEY")}
        return dict(env, UTKAST_HOME=str(home))

    def use_warm(self, on: bool) -> None:
        """Whether the commands find the warm process in the stack's state."""
        state = {"pids": {"server": self.proc.pid}, "api_url": self.url, "ui_url": self.url[:-4],
                 "warm_log": str(self.warm_log)}
        if on:
            state.update(warm_socket=str(self.warm_socket))
        self.state.write_text(json.dumps(state), encoding="utf-8")

    def stop(self) -> None:
        if self.warm is not None and self.warm.poll() is None:
            self.warm.terminate()
            self.warm.wait(30)
            shutil.rmtree(self.warm_socket.parent, ignore_errors=True)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def typst_command(folder: Path) -> Path:
    """A ``typst`` command for pandoc's ``--pdf-engine=typst``: the Typst compiler of the
    ``typst`` wheel (the one utkast uses), as a coordinator's installed typst would be."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "typst"
    path.write_text(f"""#!{sys.executable}
import sys, typst
args = sys.argv[1:]
if args[:1] != ["compile"]:
    sys.exit("only typst compile")
files = [a for a in args[1:] if not a.startswith("-")]
typst.compile(files[0], output=files[1], ignore_system_fonts=False)
""", encoding="utf-8")
    path.chmod(0o755)
    return folder


def baseline(inbox: Path, work: Path, formats: tuple[str, ...] = ("docx",)) -> dict:
    """The plain pandoc script, as a shell loop, run by /bin/sh: every file to Markdown, then
    the Markdown merged into each format (pdf through Typst)."""
    import pypandoc

    pandoc = pypandoc.get_pandoc_path()
    md = work / "baseline"
    shutil.rmtree(md, ignore_errors=True)
    md.mkdir(parents=True)
    lines = ["set -e"]
    for i, path in enumerate(sorted(p for p in inbox.rglob("*") if p.is_file())):
        lines.append(f"{shlex.quote(pandoc)} {shlex.quote(str(path))} -t markdown -o {md}/{i:05d}.md")
    for fmt in formats:
        extra = {"html": " --standalone --embed-resources --metadata title=Utkast", "pdf": " --pdf-engine=typst"}
        lines.append(f"{shlex.quote(pandoc)} {md}/*.md{extra.get(fmt, '')} -o {md}/merged.{fmt}")
    script = work / "baseline.sh"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(os.environ, PATH=f"{typst_command(work / 'typst-bin')}{os.pathsep}{os.environ.get('PATH', '')}")
    return run(["/bin/sh", str(script)], env=env)


def change_one_file(inbox: Path) -> Path:
    """Append a sentence to one report (a new version of it, as a partner would save)."""
    from docx import Document

    path = sorted(inbox.rglob("*.docx"))[0]
    doc = Document(path)
    doc.add_paragraph("Ett tillägg i en ny version av rapporten.")
    doc.save(path)
    return path


def utkast(args: list[str], env: dict) -> dict:
    """``utkast ARGS``; when it ran in the stack's warm process, its peak memory is the fork's
    (from the warm process's log), where the work was done."""
    result = dict(run([str(BIN / "utkast"), *args], env=env), warm=False)
    try:
        state = json.loads((Path(env["UTKAST_HOME"]) / ".local" / "stack.json").read_text(encoding="utf-8"))
    except (KeyError, OSError, ValueError):
        return result
    if "warm_socket" in state:
        peak = fork_peak(Path(state["warm_log"]), result["pid"])
        result.update(warm=peak is not None, peak_rss_mb=max(result["peak_rss_mb"], peak or 0))
    return result


def fork_peak(log: Path, pid: int) -> float | None:
    """The peak memory (MB) of the warm process's fork that ran command ``pid``; None when the
    command ran itself. The warm process notes a fork's end within a second."""
    from flows.warm import fork_end, fork_of

    deadline = time.time() + 10
    while True:
        text = log.read_text(encoding="utf-8")
        fork = fork_of(text, pid)
        if fork is None:
            return None
        end = fork_end(text, fork)
        if end is not None:
            return end[1]
        if time.time() > deadline:
            raise SystemExit(f"the warm process did not note the end of fork {fork}; see {log}")
        time.sleep(0.1)


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
from flows.cli import _in_process
from scripts.bench import build_directly
inbox = {inbox!r}
result = {{"flow": [], "direct": [], "worker": []}}
for name in ["direct", "flow", "worker"] * {rounds}:  # alternate, so drift hits all alike
    out = tempfile.mkdtemp(prefix="utkast-bench-")
    start = time.perf_counter()
    if name == "flow":  # as `utkast build` runs it
        _in_process(build_draft, inbox=inbox, out=out, review=False, formats=["docx"])
    elif name == "worker":  # with the heartbeat thread, as in a worker's flow-run process
        build_draft(inbox=inbox, out=out, review=False, formats=["docx"])
    else:
        build_directly(inbox, out, formats=["docx"])
    result[name].append(time.perf_counter() - start)
    shutil.rmtree(out, ignore_errors=True)
print(json.dumps(result))
"""


class Stages:
    """Seconds per stage of a build (wall clock), for the stage table."""

    NAMES = ("screening", "conversion", "personal data", "review", "merge", "render", "language page",
             "tracker, changes, pages")

    def __init__(self):
        self.seconds = {name: 0.0 for name in self.NAMES}

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


def build_directly(inbox_url: str, out_url: str, formats: list[str], stages: Stages | None = None) -> str:
    """The reference for the Prefect overhead: the steps of a cold ``build_draft`` with
    ``--no-review`` (flows/build.py and flows/intake.py), called as plain functions in the
    flow's order, with no Prefect at all. Keep it in step with the flows. Returns the version;
    ``stages`` gets the seconds per stage."""
    from flows.policies import collect_rarely
    from tasks.core.config import load_config
    from tasks.draft.catalogue import publish, read_latest, read_manifest
    from tasks.draft.index import write_index
    from tasks.draft.manifest import build_manifest, draft_fingerprint, new_version
    from tasks.draft.merge import merge_sections
    from tasks.draft.render import render_draft
    from tasks.intake.inbox import scan_inbox, write_rejections
    from tasks.intake.normalise import (
        apply_conversions,
        convert_and_keep,
        pending_conversions,
        plan_conversions,
    )
    from tasks.intake.tracker import build_tracker, write_tracker
    from tasks.personal.rules import load_rules
    from tasks.personal.scan import scan_reports, with_masked_titles
    from tasks.review.early import after_conversion
    from tasks.review.sprak import write_sprak
    from tasks.roundtrip.changes import publish_changes
    from tasks.roundtrip.feedback import harvest_feedback
    from tasks.roundtrip.points import open_review_counts
    from tasks.storage import open_storage
    from tasks.storage.base import scratch_dir
    from tasks.storage.state import load_state, save_state

    collect_rarely()  # as the flows do when a run starts
    stage = stages or Stages()
    config = load_config()
    inbox, out = open_storage(inbox_url), open_storage(out_url)
    with out.lock():
        with stage("tracker, changes, pages"):
            harvest_feedback(inbox, out, config)
        with stage("screening"):
            state = load_state(out)
            files = scan_inbox(inbox, config, state.screening)
            todo, reports = plan_conversions(files, state.conversions)
            rules, early = load_rules(config.templates, config.registry), {}
        while todo:
            # The batches scan each report for personal data and note its words for the language page.
            with stage("conversion"):
                results, _ = convert_and_keep(inbox, out, pending_conversions(todo, state.conversions), config,
                                              on_result=after_conversion(out, files, config, rules, early))
                todo = apply_conversions(out, files, todo, results, state.conversions, config, reports,
                                         checkpoint=lambda: save_state(out, state))
        with stage("personal data"):
            personal = scan_reports(out, reports, rules, state.personal, early)
            reports = with_masked_titles(reports, personal)
        with stage("tracker, changes, pages"):
            write_rejections(out, files, config, state.notes)
            save_state(out, state)
            write_tracker(out, build_tracker(files, reports, config, feedback_open=open_review_counts(out),
                                             personal=personal.summaries), config)
        chosen = list(reports.values())
        fingerprint = draft_fingerprint(chosen, config, formats, None, [])
        with stage("merge"):
            sections = merge_sections(out, chosen, config, None, formats)
        created = time.time()
        version = new_version(fingerprint, created)
        with scratch_dir() as tmp:
            with stage("render"):
                rendered = render_draft(out, sections, chosen, config, version, created, formats, Path(tmp), None, [])
            with stage("tracker, changes, pages"):
                latest = read_latest(out)  # as flows/build.py: the changes since the latest draft
                previous = read_manifest(out, latest["version"]) if latest else None
                manifest = build_manifest(rendered, fingerprint, files, chosen, config, previous, {})
                publish_changes(out, config, rendered, manifest, previous)
            with stage("language page"):
                write_sprak(out, config, chosen, version)
            with stage("tracker, changes, pages"):
                publish(out, rendered, manifest)
        with stage("tracker, changes, pages"):
            write_index(out, config, config.settings.link_seconds)
    return version


STAGES = """
import json, sys, time
sys.path.insert(0, {root!r})
from scripts.bench import Stages, build_directly
stages = Stages()
start = time.perf_counter()
build_directly({inbox!r}, {out!r}, formats={formats!r}, stages=stages)
print(json.dumps({{"total": time.perf_counter() - start, "stages": stages.seconds}}))
"""


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


def docx_build(inbox, out) -> list[str]:
    """The arguments of the measured command: ``utkast build`` of the Word draft, no review."""
    return ["build", "--no-review", "--formats", "docx", "--inbox", str(inbox), "--out", str(out)]


def profile_run(profile: str, n: int, seed: int, work: Path, env: dict, formats3: bool, server: PrefectServer,
                rounds: int = 1) -> dict:
    """One corpus profile: baseline, cold, nothing changed, one changed (docx), the three
    formats, and the stages of a cold build and of a build after one change. The commands run
    in the stack's warm process, as a coordinator's do with the stack up; a cold build and one
    after a change are also measured without it."""
    from scripts.make_corpus import generate

    result: dict = {"n": n}
    base = work / profile
    inbox = base / "inbox"
    print(f"[{profile}] corpus: {n} reports ...", flush=True)
    templates = generate(n, seed, inbox, profile)
    env = dict(env, UTKAST_TEMPLATES=str(templates))

    print(f"[{profile}] baseline: plain pandoc script, docx ...", flush=True)
    result["baseline"] = baseline(inbox, base)
    out = base / "outputs"
    build = docx_build(inbox, out)
    print(f"[{profile}] utkast build, cold ...", flush=True)
    result["cold"] = utkast(build, env)
    print(f"[{profile}] utkast build, nothing changed ...", flush=True)
    result["nothing_changed_after_cold"] = utkast(build, env)
    change_one_file(inbox)
    print(f"[{profile}] utkast build, one file changed ...", flush=True)
    result["one_changed"] = utkast(build, env)
    print(f"[{profile}] utkast build, nothing changed ...", flush=True)
    result["nothing_changed"] = utkast(build, env)
    # The same through a whole flow run (as before the build stamp): what any run costs.
    (out / STAMP).unlink()
    print(f"[{profile}] utkast build, nothing changed, through a flow run ...", flush=True)
    result["nothing_changed_flow"] = utkast(build, env)
    server.use_warm(False)  # the command alone: Python, Prefect and the flows loaded by each command
    change_one_file(inbox)
    print(f"[{profile}] utkast build, one file changed, without the warm process ...", flush=True)
    result["one_changed_alone"] = utkast(build, env)
    print(f"[{profile}] utkast build, cold, without the warm process ...", flush=True)
    result["cold_alone"] = utkast(docx_build(inbox, base / "outputs-alone"), env)
    server.use_warm(True)

    print(f"[{profile}] where a cold build's time goes (plain functions, one process) ...", flush=True)
    result["stages"] = in_process(STAGES.format(root=str(ROOT), inbox=str(inbox), out=str(base / "stages"),
                                                formats=["docx"]), env)
    change_one_file(inbox)
    print(f"[{profile}] where the time after one change goes (plain functions, one process) ...", flush=True)
    result["stages_one_changed"] = in_process(STAGES.format(root=str(ROOT), inbox=str(inbox),
                                                            out=str(base / "stages"), formats=["docx"]), env)
    if formats3:
        print(f"[{profile}] baseline: plain pandoc script, docx, pdf and html ...", flush=True)
        result["baseline3"] = baseline(inbox, base, ("docx", "pdf", "html"))
        print(f"[{profile}] utkast build, cold, docx, pdf and html ...", flush=True)
        result["cold3"] = utkast(["build", "--no-review", "--formats", "docx,pdf,html", "--inbox", str(inbox),
                                  "--out", str(base / "outputs3")], env)
        (problems,) = [json.loads(p.read_text(encoding="utf-8"))["problems"]
                       for p in (base / "outputs3" / "drafts").glob("*/manifest.json")]
        if problems:
            raise SystemExit(f"the three-format draft has problems: {problems}")
    # More alternating pairs (``rounds`` in all): one pair moves by about 8 % on this machine, so
    # the targets take the median of the pairs' ratios (see :func:`score`).
    result["pairs"] = [{"baseline": result["baseline"]["seconds"], "cold": result["cold"]["seconds"]}]
    result["changes"] = [{"one_changed": result["one_changed"]["seconds"],
                          "nothing_changed_flow": result["nothing_changed_flow"]["seconds"]}]
    for i in range(1, rounds):
        print(f"[{profile}] round {i + 1} of {rounds}: baseline, cold, one file changed, nothing changed ...",
              flush=True)
        pair = {"baseline": baseline(inbox, base)["seconds"]}
        again = base / f"outputs-round-{i + 1}"
        pair["cold"] = utkast(docx_build(inbox, again), env)["seconds"]
        result["pairs"].append(pair)
        change_one_file(inbox)
        change = {"one_changed": utkast(build, env)["seconds"]}
        (out / STAMP).unlink()
        change["nothing_changed_flow"] = utkast(build, env)["seconds"]
        result["changes"].append(change)
        shutil.rmtree(again, ignore_errors=True)
    result["inbox"], result["templates"] = str(inbox), str(templates)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=238, help="reports in the build benchmark")
    ap.add_argument("--profiles", default="standard,plain",
                    help="corpus profiles (scripts/make_corpus.py), comma-separated")
    ap.add_argument("--poll-n", type=int, default=1500, help="reports in the idle-poll benchmark")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=ROOT / "bench-results" / "bench.json")
    ap.add_argument("--figures", type=Path, default=ROOT / "docs" / "performance-figures.md",
                    help="the documentation page the figures are written to (default: docs/performance-figures.md)")
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    ap.add_argument("--no-s3", action="store_true", help="skip the idle poll on the local S3 server")
    ap.add_argument("--no-poll", action="store_true", help="skip the idle poll altogether")
    ap.add_argument("--no-formats3", action="store_true", help="skip the three-format comparison")
    ap.add_argument("--no-review", action="store_true", help="skip the review throughput")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating rounds: baseline/cold pairs and one change/nothing changed per profile, "
                         "flow/direct pairs for the Prefect overhead")
    args = ap.parse_args()
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]

    from scripts.make_corpus import PROFILES, generate

    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        raise SystemExit(f"unknown profile(s) {unknown}; choose from {', '.join(PROFILES)}")
    work = Path(args.work or tempfile.mkdtemp(prefix="utkast-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_before": os.getloadavg()},
        "n": args.n, "poll_n": args.poll_n, "seed": args.seed, "profiles": {},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    server = PrefectServer(work / "prefect-home")
    try:
        env = server.as_stack(work / "home")  # the commands find the server as the coordinator's stack
        for i, profile in enumerate(profiles):
            results["profiles"][profile] = profile_run(profile, args.n, args.seed, work, env, not args.no_formats3,
                                                       server, args.rounds)
        first = results["profiles"][profiles[0]]
        fenv = dict(server.env, UTKAST_TEMPLATES=first["templates"])

        print("Prefect overhead: flow vs direct calls ...", flush=True)
        overhead = in_process(OVERHEAD.format(root=str(ROOT), inbox=first["inbox"], rounds=args.rounds), fenv)
        results["prefect"] = {k: [round(v, 3) for v in runs] for k, runs in overhead.items()}

        tmp_server_env = {k: v for k, v in fenv.items() if k != "PREFECT_API_URL"}
        tmp_server_env["UTKAST_HOME"] = str(work / "no-stack")
        print("utkast build, cold, with Prefect's temporary server ...", flush=True)
        results["cold_temporary_server"] = utkast(
            docx_build(first["inbox"], work / "tmpserver"),
            tmp_server_env)

        if not args.no_poll:
            print(f"corpus: {args.poll_n} reports for the idle poll ...", flush=True)
            poll_inbox = work / "poll" / "inbox"
            poll_templates = generate(args.poll_n, args.seed + 1, poll_inbox)
            penv = dict(env, UTKAST_TEMPLATES=str(poll_templates))
            flow_env = dict(server.env, UTKAST_TEMPLATES=str(poll_templates))
            poll_out = work / "poll" / "outputs"
            print("utkast intake, cold (not a target) ...", flush=True)
            results["poll_cold_local"] = utkast(["intake", "--no-review", "--inbox", str(poll_inbox),
                                                 "--out", str(poll_out)], penv)
            print("utkast intake, idle, local folder ...", flush=True)
            results["poll_idle_local"] = utkast(["intake", "--no-review", "--inbox", str(poll_inbox),
                                                 "--out", str(poll_out)], penv)
            results["poll_idle_local_flow"] = in_process(IDLE_FLOW.format(inbox=str(poll_inbox), out=str(poll_out)),
                                                         flow_env)
            if not args.no_s3:
                from scripts.local_bucket import start, stop, upload

                bucket_dir = work / "bucket"
                bucket = start(bucket_dir, port=0)
                try:
                    print("local S3: uploading the poll inbox ...", flush=True)
                    upload(poll_inbox, f"s3://{bucket.bucket}/inbox", dir=bucket_dir)
                    senv, sflow = dict(penv, **bucket.env("coordinator")), dict(flow_env, **bucket.env("coordinator"))
                    s3_in, s3_out = f"s3://{bucket.bucket}/inbox", f"s3://{bucket.bucket}/outputs"
                    print("utkast intake over S3, cold (not a target) ...", flush=True)
                    results["poll_cold_s3"] = utkast(["intake", "--no-review", "--inbox", s3_in, "--out", s3_out],
                                                     senv)
                    print("utkast intake over S3, idle ...", flush=True)
                    results["poll_idle_s3"] = utkast(["intake", "--no-review", "--inbox", s3_in, "--out", s3_out],
                                                     senv)
                    results["poll_idle_s3_flow"] = in_process(IDLE_FLOW.format(inbox=s3_in, out=s3_out), sflow)
                finally:
                    stop(bucket_dir)

        if not args.no_review:
            print("review throughput ...", flush=True)
            results["review"] = review_throughput(fenv, args.rounds)
    finally:
        server.stop()
    results["machine"]["load_after"] = os.getloadavg()

    score(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print_table(results)
    write_figures_page(results, args.figures, " ".join(["scripts/bench.py", *sys.argv[1:]]))
    print(f"\nJSON: {args.json}\nFigures page: {args.figures}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def score(results: dict) -> None:
    """The ratios of a run (``results["ratios"]``, rounded for the JSON) and each target, met or
    not (``results["targets"]``). A target is checked on the value as measured: rounded first,
    0.0504 would pass for 0.05."""
    ratios: dict = {"profiles": {}}
    raw: dict = {}  # per profile, unrounded: the targets are checked on these
    for profile, r in results["profiles"].items():
        cold, nothing = r["cold"]["seconds"], r["nothing_changed"]["seconds"]
        pairs = r.get("pairs") or [{"baseline": r["baseline"]["seconds"], "cold": cold}]
        changes = r.get("changes") or [{k: r[k]["seconds"] for k in ("one_changed", "nothing_changed_flow")}]
        median_cold = statistics.median(p["cold"] for p in pairs)
        mine = {
            "cold_vs_baseline": statistics.median(p["cold"] / p["baseline"] for p in pairs),
            "one_changed_vs_cold": r["one_changed"]["seconds"] / cold,
            # What a change costs beyond a run that finds nothing to do (Python, Prefect, the flow run).
            "one_changed_extra_vs_cold": statistics.median(c["one_changed"] - c["nothing_changed_flow"]
                                                           for c in changes) / median_cold,
            "one_changed_minus_nothing_changed_vs_cold": (r["one_changed"]["seconds"] - nothing) / cold,
            "nothing_changed_vs_cold": nothing / cold,
            "nothing_changed_flow_vs_cold": r["nothing_changed_flow"]["seconds"] / cold,
            "stack_nothing_changed_s": nothing,
            "stack_one_changed_s": r["one_changed"]["seconds"],
            "peak_docx_mb": r["cold"]["peak_rss_mb"],
        }
        if "cold_alone" in r:
            mine["cold_alone_vs_baseline"] = r["cold_alone"]["seconds"] / r["baseline"]["seconds"]
            mine["one_changed_alone_s"] = r["one_changed_alone"]["seconds"]
        if "cold3" in r:
            mine["cold3_vs_baseline3"] = r["cold3"]["seconds"] / r["baseline3"]["seconds"]
            mine["peak_three_formats_mb"] = r["cold3"]["peak_rss_mb"]
        raw[profile] = mine
        ratios["profiles"][profile] = {k: round(v, 3) for k, v in mine.items()}
    peak = [r[k]["peak_rss_mb"] for r in results["profiles"].values() for k in ("cold", "cold3") if k in r]
    peak += [results[k]["peak_rss_mb"] for k in ("poll_cold_local",) if k in results]
    overhead = statistics.median(results["prefect"]["flow"]) / statistics.median(results["prefect"]["direct"])
    exact = {"prefect_overhead": overhead}
    ratios.update({"prefect_overhead": round(overhead, 3), "peak_rss_mb": max(peak)})
    if "poll_idle_local_flow" in results:
        exact["idle_poll_local_flow_s"] = results["poll_idle_local_flow"]["seconds"]
    if "poll_idle_s3_flow" in results:
        exact["idle_poll_s3_flow_s"] = results["poll_idle_s3_flow"]["seconds"]
    if "review" in results:
        review = results["review"]["results"]
        exact["review_vs_engine"] = review["pipeline"]["ratio_to_engine"]
        exact["review_words_per_second"] = review["pipeline"]["words_per_second"]
    ratios.update({key: round(value, 1 if key == "review_words_per_second" else 3) for key, value in exact.items()})
    results["ratios"] = ratios
    compare = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b}
    targets = {}
    for key, (op, limit) in TARGETS.items():
        if key in PER_PROFILE:
            for profile, mine in raw.items():
                if key in mine:
                    targets[f"{key}[{profile}]"] = {"target": f"{op} {limit}", "measured": shown(mine[key], limit),
                                                    "met": compare[op](mine[key], limit)}
        elif key in ratios:
            value = exact.get(key, ratios[key])  # peak_rss_mb: as measured
            targets[key] = {"target": f"{op} {limit}", "measured": shown(value, limit), "met": compare[op](value, limit)}
    results["targets"] = targets


def shown(value: float, limit: float) -> float:
    """``value`` rounded for the table: three decimals, or as many more as it takes not to
    look equal to ``limit`` when it is not."""
    for digits in (3, 4, 5, 6):
        if round(value, digits) != limit or value == limit:
            return round(value, digits)
    return value


def print_table(r: dict) -> None:
    rows = table_rows(r)
    width = max(len(a) for a, _, _ in rows)
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:>10}  {c}")
    print(f"\nload average (1, 5, 15 min): before {tuple(round(x, 2) for x in r['machine']['load_before'])}, "
          f"after {tuple(round(x, 2) for x in r['machine']['load_after'])}")
    for key, t in r["targets"].items():
        print(f"{'met ' if t['met'] else 'MISSED'}  {key} {t['target']} (measured {t['measured']})")


def figures_page(r: dict, command: str) -> str:
    """The documentation page of one run's figures (docs/performance-figures.md), in Markdown:
    the machine, the command, the table :func:`print_table` prints, and every target."""
    m = r["machine"]
    lines = ["# Performance figures", "",
             "<!-- Written by scripts/bench.py (figures_page); a run of the benchmark replaces this page. -->", "",
             "Measured with `scripts/bench.py` (see [Performance](performance.md) for what each line means and how "
             "to run it). Every figure is a ratio to something measured in the same run.", "",
             f"Run of {r['started']}: `{command}`, on {m['processor']}, {m['cpus']} cores, {m['platform']}, "
             f"Python {m['python']}; load average before {tuple(round(x, 2) for x in m['load_before'])}, after "
             f"{tuple(round(x, 2) for x in m['load_after'])}.", "",
             "| What | Measured | Compared |", "|---|---:|---|"]
    lines += [f"| {a.strip()} | {b} | {c} |" for a, b, c in table_rows(r)]
    lines += ["", "| Target | Measured | |", "|---|---:|---|"]
    lines += [f"| `{key}` {t['target']} | {t['measured']} | {'met' if t['met'] else '**missed**'} |"
              for key, t in r["targets"].items()]
    return "\n".join(lines) + "\n"


def write_figures_page(r: dict, path: Path, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(figures_page(r, command), encoding="utf-8")


def table_rows(r: dict) -> list[tuple[str, str, str]]:
    """(what, measured, compared) for each line of the results table."""
    rows = []
    for profile, p in r["profiles"].items():
        q = r["ratios"]["profiles"][profile]
        rows += [
            (f"[{profile}, N = {p['n']}] baseline: plain pandoc script, docx", f"{p['baseline']['seconds']:.1f} s", ""),
            ("utkast build, cold", f"{p['cold']['seconds']:.1f} s",
             f"{p['cold']['seconds'] / p['baseline']['seconds']:.2f} x baseline"),
            ("utkast build, nothing changed", f"{p['nothing_changed']['seconds']:.2f} s",
             f"{q['nothing_changed_vs_cold']:.3f} x cold (no run started)"),
            ("utkast build, nothing changed, through a flow run", f"{p['nothing_changed_flow']['seconds']:.2f} s",
             f"{q['nothing_changed_flow_vs_cold']:.3f} x cold"),
            ("utkast build, 1 file changed", f"{p['one_changed']['seconds']:.2f} s",
             f"{q['one_changed_vs_cold']:.3f} x cold; {q['one_changed_extra_vs_cold']:.3f} x cold more than the "
             f"flow run with nothing changed, {q['one_changed_minus_nothing_changed_vs_cold']:.3f} x more than "
             "nothing changed"),
        ]
        if len(p.get("pairs", [])) > 1:
            rows += [(f"cold / baseline, {len(p['pairs'])} alternating pairs (the target: their median)",
                      " ".join(f"{x['cold'] / x['baseline']:.3f}" for x in p["pairs"]),
                      f"median {q['cold_vs_baseline']:.3f}"),
                     (f"1 file changed - nothing changed through a flow run, {len(p['changes'])} pairs",
                      " ".join(f"{c['one_changed'] - c['nothing_changed_flow']:.2f}" for c in p["changes"]) + " s",
                      f"median {q['one_changed_extra_vs_cold']:.3f} x the median cold build")]
        if "cold_alone" in p:
            rows += [("utkast build, cold, without the warm process", f"{p['cold_alone']['seconds']:.1f} s",
                      f"{q['cold_alone_vs_baseline']:.2f} x baseline (not a target: the command alone)"),
                     ("utkast build, 1 file changed, without the warm process",
                      f"{p['one_changed_alone']['seconds']:.2f} s", "")]
        if "cold3" in p:
            rows += [("baseline: plain pandoc script, docx, pdf and html", f"{p['baseline3']['seconds']:.1f} s", ""),
                     ("utkast build, cold, docx, pdf and html", f"{p['cold3']['seconds']:.1f} s",
                      f"{q['cold3_vs_baseline3']:.2f} x baseline")]
        stages, total = p["stages"]["stages"], p["stages"]["total"]
        rows.append(("  cold build by stage (plain functions, one process):", f"{total:.1f} s", ""))
        for name, seconds in stages.items():
            rows.append((f"    {name}", f"{seconds:.2f} s", f"{seconds / p['cold']['seconds']:.0%} of the cold build"))
        other = total - sum(stages.values())
        rows.append(("    other (state, plan, manifest)", f"{other:.2f} s", ""))
        extra = p["cold"]["seconds"] - total
        rows.append(("    Prefect, starting Python (command - plain functions)", f"{extra:.2f} s",
                     f"{extra / p['cold']['seconds']:.0%} of the cold build"))
        if "stages_one_changed" in p:
            stages, total = p["stages_one_changed"]["stages"], p["stages_one_changed"]["total"]
            rows.append(("  1 file changed, by stage (plain functions, one process):", f"{total:.2f} s", ""))
            rows += [(f"    {name}", f"{seconds:.2f} s", f"{seconds / p['one_changed']['seconds']:.0%} of the command")
                     for name, seconds in stages.items() if seconds >= 0.005]
        rows.append(("peak RSS, cold build: docx" + (" / docx, pdf and html" if "cold3" in p else ""),
                     " / ".join(f"{p[k]['peak_rss_mb']:.0f}" for k in ("cold", "cold3") if k in p) + " MB",
                     "the largest process of the run"))
    rows += [
        ("same cold build, temporary Prefect server", f"{r['cold_temporary_server']['seconds']:.1f} s", ""),
        ("flow vs direct calls, in-process (medians)",
         f"{statistics.median(r['prefect']['flow']):.1f} / {statistics.median(r['prefect']['direct']):.1f} s",
         f"{r['ratios']['prefect_overhead']:.2f} x"),
    ]
    if r["prefect"].get("worker"):  # runs measured before the worker's variant have none
        rows.append(("the flow with its heartbeat thread, as a worker runs it (median)",
                     f"{statistics.median(r['prefect']['worker']):.1f} s",
                     f"{statistics.median(r['prefect']['worker']) / statistics.median(r['prefect']['direct']):.2f} x "
                     "direct calls"))
    if "poll_idle_local" in r:
        rows += [(f"idle poll, {r['poll_n']} files, local: command", f"{r['poll_idle_local']['seconds']:.2f} s", ""),
                 (f"idle poll, {r['poll_n']} files, local: flow run", f"{r['poll_idle_local_flow']['seconds']:.2f} s",
                  "")]
    if "poll_idle_s3" in r:
        rows += [(f"idle poll, {r['poll_n']} files, S3: command", f"{r['poll_idle_s3']['seconds']:.2f} s", ""),
                 (f"idle poll, {r['poll_n']} files, S3: flow run", f"{r['poll_idle_s3_flow']['seconds']:.2f} s", "")]
    rows.append(("peak RSS of the pipeline's processes", f"{r['ratios']['peak_rss_mb']:.0f} MB", ""))
    for path, v in r.get("review", {}).get("results", {}).items():
        rows.append((f"review words/s: {path}", f"{v['words_per_second']:,.0f}", f"{v['ratio_to_engine']:.2f} x engine"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
