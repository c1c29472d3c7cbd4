"""Faults on a local store: a run killed half-way, two builds at once, pandoc dying on one
file of a batch, and leftovers of interrupted writes. Nothing is lost, nothing half-done is
trusted, and a rerun completes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tasks.core.config import ConvertSettings
from tasks.storage.local import LocalStorage
from tasks.storage.state import ScreeningMemory
from tests.builders import make_docx, put
from tests.faults import ended, inconsistencies, kill_group, start_cli, torn_files, wait_for


def _slow_inbox(root, config, count=28, paragraphs=120):
    """Enough real documents that converting them takes a few seconds."""
    partners = [p.slug for p in config.registry.partners]
    pieces = list(config.outline.pieces)
    paragraph = "Arbetsträning i butiken ger deltagarna rutiner, kollegor och referenser. " * 12
    keys = []
    for i in range(count):
        key = f"{partners[i % len(partners)]}/{pieces[i // len(partners)]} Rapport {i}.docx"
        put(root, key, make_docx([f"Rapport nummer {i}.", *[paragraph] * paragraphs],
                                 subheadings={f"Del {j}": [paragraph] for j in range(paragraphs // 10)}))
        keys.append(key)
    return keys


def test_a_run_killed_while_converting_leaves_nothing_trusted_and_a_rerun_completes(
        prefect_harness, tmp_path, config):
    inbox, out, scratch = tmp_path / "inbox", tmp_path / "outputs", tmp_path / "tmp"
    scratch.mkdir()
    keys = _slow_inbox(inbox, config)
    from tests.faults import cli_env

    env = cli_env(TMPDIR=str(scratch))
    args = ["intake", "--inbox", str(inbox), "--out", str(out), "--no-review"]
    proc = start_cli(args, tmp_path / "first.log", env)
    converting = wait_for(lambda: any((out / "cache" / "converted").glob("*.json")), proc)
    kill_group(proc)
    log = (tmp_path / "first.log").read_text(errors="replace")
    assert converting, log
    assert proc.returncode == -9 and not (out / "status.json").exists()  # killed mid-run
    kept = len(list((out / "cache" / "converted").glob("*.json")))  # finished before the kill

    store, source = LocalStorage(out), LocalStorage(inbox)
    assert inconsistencies(store, source) == []

    second = start_cli(args, tmp_path / "second.log", env)
    assert second.wait(timeout=900) == 0, (tmp_path / "second.log").read_text(errors="replace")
    said = (tmp_path / "second.log").read_text(errors="replace")
    assert f"{len(keys) - kept} converted" in said, said  # what the killed run finished is not redone
    assert torn_files(store) == [] and inconsistencies(store, source) == []
    written = sorted(p.relative_to(out / "normalised").as_posix() for p in (out / "normalised").rglob("*.md"))
    assert len(written) == len(keys)
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["counts"]["accepted"] == len(keys) and status["counts"]["rejected"] == 0


def test_a_run_killed_after_writing_outputs_but_before_saving_state_is_not_trusted(tmp_path, config):
    """Kill between writing a new report and recording it: even if the inbox then goes back
    to the bytes the state remembers, the half-recorded text is not reused."""
    from tasks.intake.inbox import scan_inbox
    from tasks.intake.normalise import (
        apply_conversions,
        convert_files,
        pending_conversions,
        plan_conversions,
    )
    from tasks.storage.state import load_state, save_state

    inbox, out = LocalStorage(tmp_path / "inbox"), LocalStorage(tmp_path / "out")
    first = make_docx(["Version A av rapporten."])

    def run(save=True):
        state = load_state(out)
        files = scan_inbox(inbox, config, state.screening)
        todo, reports = plan_conversions(files, state.conversions)
        results = convert_files(inbox, pending_conversions(todo, state.conversions), config)
        apply_conversions(out, files, todo, results, state.conversions, config, reports,
                      checkpoint=lambda: save_state(out, state))
        if save:
            save_state(out, state)

    put(tmp_path / "inbox", "myrorna/1.3 Kvalitet.docx", first, mtime=1000)
    run()
    put(tmp_path / "inbox", "myrorna/1.3 Kvalitet.docx", make_docx(["Version B av rapporten."]), mtime=2000)
    run(save=False)  # killed before the state was saved
    put(tmp_path / "inbox", "myrorna/1.3 Kvalitet.docx", first, mtime=3000)  # back to A
    run()
    text = (tmp_path / "out/normalised/myrorna/1.3.md").read_text(encoding="utf-8")
    assert "Version A" in text and "Version B" not in text
    assert inconsistencies(out, inbox) == []


def test_two_builds_at_once_both_finish_and_leave_one_consistent_draft(prefect_harness, tmp_path, config):
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    _slow_inbox(inbox, config, count=8, paragraphs=10)
    put(inbox, "verdandi/3.1 Vägen.pdf", b"%PDF-1.4 not accepted")
    args = ["build", "--inbox", str(inbox), "--out", str(out), "--no-review"]
    procs = [start_cli(args, tmp_path / f"build{i}.log") for i in range(2)]
    codes = [p.wait(timeout=900) for p in procs]
    logs = [(tmp_path / f"build{i}.log").read_text(errors="replace") for i in range(2)]
    assert codes == [0, 0], logs
    # One published the draft; the other waited for it and found nothing new.
    assert sorted(bool(re.search(r"^Draft \S+ published\.", log, re.M)) for log in logs) == [False, True], logs
    assert sum("Nothing new since draft" in log for log in logs) == 1
    store = LocalStorage(out)
    assert torn_files(store) == [] and inconsistencies(store, LocalStorage(inbox)) == []
    latest = json.loads((out / "drafts/latest.json").read_text(encoding="utf-8"))
    assert [p.name for p in (out / "drafts").iterdir() if p.is_dir()] == [latest["version"]]
    assert set(latest["formats"]) == {"docx", "pdf", "html"}


@pytest.mark.slow  # converts a 3,000-paragraph document until pandoc runs out of memory
def test_a_file_that_kills_pandoc_only_takes_itself_down(tmp_path, config):
    """pandoc runs many files per process; one file over the memory ceiling stops that
    process. The file is rejected with a reason; the files before and after it convert."""
    from tasks.intake.inbox import scan_inbox
    from tasks.intake.normalise import Converted, convert_files
    from tasks.intake.reasons import explain

    root = tmp_path / "inbox"
    put(root, "myrorna/1.1 Före.docx", make_docx(["Före den stora filen."]))
    put(root, "myrorna/1.2 Stor.docx", make_docx(["Ett långt stycke om arbetsträning. " * 40] * 3000))
    put(root, "myrorna/1.3 Efter.docx", make_docx(["Efter den stora filen."]))
    put(root, "myrorna/1.4 Sist.docx", make_docx(["Sist i kön."]))
    storage = LocalStorage(root)
    files = [f for f in scan_inbox(storage, config, ScreeningMemory()) if f.verdict == "accepted"]
    tight = replace(config, settings=config.settings.model_copy(
        update={"convert": ConvertSettings(timeout_seconds=5, memory_mb=80)}))

    results = convert_files(storage, files, tight, parallel=1)

    big = results.pop("myrorna/1.2 Stor.docx")
    assert "kunde inte omvandlas" in explain(big)
    assert all(isinstance(r, Converted) for r in results.values()), results
    assert "Efter den stora filen." in results["myrorna/1.3 Efter.docx"].markdown


_STUCK_WRITER = """
import os, sys, time
os.fsync = lambda fd: time.sleep(3600)  # the write stops half-way, its temporary file open
from tasks.storage.local import LocalStorage
LocalStorage(sys.argv[1]).write("drafts/v2/manifest.json", b'{"half')
"""


def _stuck_writer(root):
    """A real process writing into ``root`` that stops half-way through a write."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _STUCK_WRITER, str(root)], cwd=os.getcwd(),
                            start_new_session=True)
    folder = root / "drafts/v2"
    assert wait_for(lambda: folder.is_dir() and any(folder.glob(".utkast.*.tmp")), proc, 60)
    return proc, next(folder.glob(".utkast.*.tmp"))


def test_a_killed_write_leaves_a_temporary_name_the_next_run_clears_at_once(tmp_path):
    """A write is a temporary file renamed into place. One whose writer is killed half-way
    leaves a dotted ``.tmp`` name that nothing lists as a draft, and the next locked run
    removes it at once (the rerun a coordinator starts right after a crash leaves nothing
    behind); one whose writer is still at work is left alone."""
    from tasks.draft.catalogue import list_versions

    out = LocalStorage(tmp_path / "out")
    out.write("drafts/v1/manifest.json", b"{}")
    proc, half = _stuck_writer(tmp_path / "out")
    try:
        assert list_versions(out) == ["v1"]
        with out.lock():
            pass
        assert half.exists()  # its writer is alive: the write may still finish
    finally:
        kill_group(proc)
    assert proc.returncode == -9
    assert torn_files(out) == ["drafts/v2/" + half.name + ": temporary file left behind"]
    with out.lock():
        pass
    assert not half.exists() and torn_files(out) == []
    assert list_versions(out) == ["v1"]
    out.write("drafts/v2/manifest.json", b"{}")  # a write after the clean-up is whole
    assert list_versions(out) == ["v2", "v1"] and torn_files(out) == []


@pytest.mark.parametrize("key", ["status.json", "drafts/latest.json"])
def test_a_reader_sees_the_old_or_the_new_object_never_a_mix(tmp_path, key):
    out = LocalStorage(tmp_path)
    out.write(key, b'{"version": "old"}')
    before = os.stat(tmp_path / key).st_ino
    out.write(key, b'{"version": "new"}')
    assert os.stat(tmp_path / key).st_ino != before  # replaced by rename, not rewritten in place
    assert json.loads((tmp_path / key).read_text()) == {"version": "new"}
    assert [p.name for p in (tmp_path / key).parent.iterdir()] == [key.rsplit("/", 1)[-1]]


WORKER_PIDS = """
import os, sys, time
sys.path.insert(0, {root!r})
from tasks.core.parallel import process_pool
pool = process_pool(2)
print(*sorted({{pool.submit(os.getpid).result() for _ in range(8)}}), flush=True)
time.sleep(600)
"""


def test_worker_processes_end_when_the_run_that_started_them_is_killed(tmp_path):
    """A run killed while its worker processes wait for work (the personal-data scan, the
    language review) leaves none of them behind."""
    root = str(Path(__file__).resolve().parents[1])
    run = subprocess.Popen([sys.executable, "-c", WORKER_PIDS.format(root=root)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in run.stdout.readline().split()]
        assert pids and run.pid not in pids
        assert all(os.path.exists(f"/proc/{pid}") for pid in pids)
    finally:
        run.kill()
        run.wait()
    gone = wait_for(lambda: all(map(ended, pids)), limit=30)
    for pid in [p for p in pids if not ended(p)]:  # the test's own leftovers, whatever it finds
        os.kill(pid, signal.SIGKILL)
    assert gone, "a worker process outlived its run"
