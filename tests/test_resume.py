"""A flow that fails after converting resumes on rerun: pandoc is not started again for the
documents it already converted (results persisted with the outputs, cached by content hash)."""

from __future__ import annotations

import json

import pytest
from docx import Document

from tests.builders import make_docx, put, rezip


def test_a_rerun_after_a_failure_converts_nothing_again(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

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
    assert list((out / "cache/results").iterdir())  # the conversions were kept

    (out / "normalised").unlink()  # the storage problem is fixed
    state = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx"], return_state=True)
    result = state.result()

    assert result["converted"] == 0
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    conversions = [r for r in runs if r.name.startswith("convert_files")]
    assert conversions and all(r.state.name == "Cached" for r in conversions)

    text = "\n".join(p.text for p in Document(result["draft"]["docx"]).paragraphs)
    assert "Myrorna arbetar med kvalitet." in text and "Verdandi driver butiker." in text
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    (rejected,) = status["rejected"]  # the broken file's verdict came back from the cache too
    assert rejected["key"] == "forum/3.2 Trasig.docx" and rejected["reason_code"] == "conversion_failed"
    assert "kunde inte omvandlas" in rejected["reason"]


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
