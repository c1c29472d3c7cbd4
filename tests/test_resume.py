"""A flow that fails after converting resumes on rerun: pandoc is not started again for the
documents it already converted (each conversion kept with the outputs as soon as it is done,
by content hash), and a batch stopped half-way leaves the files it finished."""

from __future__ import annotations

import json

import pytest
from docx import Document

from tests.builders import make_docx, put, rezip


def test_a_rerun_after_a_failure_converts_nothing_again(prefect_harness, tmp_path):
    from flows.build import build_draft
    from tasks.core.errors import StorageError

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Myrorna arbetar med kvalitet."]))
    put(inbox, "verdandi/4.2 Motiv.docx", make_docx(["Verdandi driver butiker."]))
    broken = rezip(make_docx(["x"]), replace={"word/document.xml": b"<w:document>not xml"})
    put(inbox, "forum/3.2 Trasig.docx", broken)
    # Break the outputs where the converted reports go: the run fails after converting.
    (out / "normalised").parent.mkdir(parents=True)
    (out / "normalised").write_text("not a folder")

    with pytest.raises(StorageError):
        build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    assert len(list((out / "cache/converted").iterdir())) == 3  # each conversion was kept, the failure too

    (out / "normalised").unlink()  # the storage problem is fixed
    result = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])

    assert result["converted"] == 0
    text = "\n".join(p.text for p in Document(result["draft"]["docx"]).paragraphs)
    assert "Myrorna arbetar med kvalitet." in text and "Verdandi driver butiker." in text
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    (rejected,) = status["rejected"]  # the broken file's verdict came back from what was kept too
    assert rejected["key"] == "forum/3.2 Trasig.docx" and rejected["reason_code"] == "conversion_failed"
    assert "kunde inte omvandlas" in rejected["reason"]


def test_a_batch_stopped_half_way_leaves_the_files_it_finished(tmp_path, config):
    """Files are kept one by one as pandoc finishes them: a batch that stops after two of five
    (here its caller raises; a killed worker stops the same way) leaves those two, and the next
    attempt gives pandoc only the other three."""
    from tasks.intake.inbox import scan_inbox
    from tasks.intake.normalise import convert_and_keep
    from tasks.storage.local import LocalStorage
    from tasks.storage.state import ScreeningMemory

    for i in range(5):
        put(tmp_path / "inbox", f"myrorna/1.{i + 1} Rapport.docx", make_docx([f"Rapport {i} om arbetsträning."]))
    inbox, out = LocalStorage(tmp_path / "inbox"), LocalStorage(tmp_path / "out")
    files = [f for f in scan_inbox(inbox, config, ScreeningMemory()) if f.verdict == "accepted"]
    seen = []

    def stop_after_two(key, outcome):
        seen.append(key)
        if len(seen) == 2:
            raise RuntimeError("the worker is gone")

    with pytest.raises(RuntimeError):
        convert_and_keep(inbox, out, files, config, parallel=1, on_result=stop_after_two)
    converted = []
    results, kept = convert_and_keep(inbox, out, files, config, parallel=1,
                                     on_result=lambda key, outcome: converted.append(key))
    assert kept == set(seen) and sorted(converted) == sorted(f.key for f in files if f.key not in seen)
    assert all(f"Rapport {i} om" in results[f.key].markdown for i, f in enumerate(sorted(files, key=lambda f: f.key)))


def test_a_changed_file_is_converted_again(prefect_harness, tmp_path):
    from flows.build import build_draft

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Första texten."]))
    build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    (out / "cache/state.json").unlink()  # even without the pipeline's own memory ...
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Andra texten."]))
    result = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"])
    assert result["converted"] == 1  # ... new bytes are never served from the cache
    text = "\n".join(p.text for p in Document(result["draft"]["docx"]).paragraphs)
    assert "Andra texten." in text and "Första texten." not in text
