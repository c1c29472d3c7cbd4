"""Every real document of the shared corpus gets a verdict and the build completes."""

from __future__ import annotations

import json
import shutil

import pytest
from docx import Document


def _spread(files, config, inbox):
    """One file per (partner, piece) slot so every file is really converted."""
    partners = [p.slug for p in config.registry.partners]
    pieces = list(config.outline.pieces)
    placed = {}
    for i, src in enumerate(files):
        key = f"{partners[i % len(partners)]}/{pieces[(i // len(partners)) % len(pieces)]} {src.name}"
        (inbox / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, inbox / key)
        placed[key] = src
    return placed


@pytest.mark.parametrize("folders", [("pandoc-docx", "pandoc-docx-extra"), ("pandoc-odt", "swedish")])
def test_corpus_files_all_get_a_verdict(prefect_harness, corpus, config, tmp_path, folders):
    from flows.build import build_draft

    files = sorted(p for folder in folders for p in (corpus / folder).iterdir() if p.suffix in (".docx", ".odt"))
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    placed = _spread(files, config, inbox)

    result = build_draft(inbox=str(inbox), out=str(out), review=False, formats=["docx", "html"])

    assert result["published"]
    manifest = json.loads((out / "drafts" / result["version"] / "manifest.json").read_text(encoding="utf-8"))
    verdicts = {i["key"]: i for i in manifest["inputs"]}
    assert set(verdicts) == set(placed)
    for key, item in verdicts.items():
        assert item["verdict"] in ("accepted", "rejected"), key
        if item["verdict"] == "rejected":
            assert item["reason"] and (out / "rejected").exists()
    accepted = [k for k, i in verdicts.items() if i["verdict"] == "accepted"]
    assert len(accepted) > len(files) * 0.8
    text = "\n".join(p.text for p in Document(out / "drafts" / result["version"] / "utkast.docx").paragraphs)
    titles = [r["title"] for r in manifest["reports"]]
    assert sum(t in text for t in titles) == len(titles)  # every accepted report is attributed in the draft
