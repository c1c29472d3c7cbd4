"""Fuzzing the intake: seeded mutations of the corpus documents all get a verdict, and no
exception escapes screening or conversion (``scripts/fuzz_intake.py``)."""

from __future__ import annotations

import importlib.util
import io
import json
import random
import struct
import zipfile

import pytest

from tests.conftest import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("fuzz_intake", ROOT / "scripts" / "fuzz_intake.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_520_mutated_corpus_files_get_a_verdict_and_nothing_escapes(corpus, tmp_path, capsys):
    code = _script().main(["--seed", "20261127", "--count", "520", "--corpus", str(corpus),
                           "--keep", str(tmp_path)])
    out = capsys.readouterr().out
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["escaped"] == 0 and summary["problems"] == [], capsys.readouterr().err
    assert code == 0
    assert sum(summary["verdicts"].values()) == 520
    assert set(summary["mutations"]) == {"bit_flips", "truncate", "overwrite", "member_corrupt",
                                         "member_replace", "member_duplicate", "member_drop", "xml_damage"}
    # The run really exercised both sides: damaged files rejected, survivable damage converted.
    assert summary["verdicts"]["rejected"] > 50 and summary["verdicts"]["accepted"] > 50
    assert "520 files, 0 escaped exceptions" in out


def test_the_same_seed_gives_the_same_files(corpus, tmp_path, config):
    fuzz = _script()
    sources = fuzz.corpus_files(corpus)[:10]
    first = fuzz.write_mutants(sources, tmp_path / "a", 5, 30, config)
    second = fuzz.write_mutants(sources, tmp_path / "b", 5, 30, config)
    assert first == second
    for key in first:
        assert (tmp_path / "a" / key).read_bytes() == (tmp_path / "b" / key).read_bytes()


def test_a_zip_claiming_a_future_format_version_is_corrupt_not_a_crash(config):
    """Found by the fuzz run: zipfile raises NotImplementedError for such archives."""
    from tasks.core.errors import CorruptFile
    from tasks.intake.screening import screen_file
    from tests.builders import make_docx

    data = bytearray(make_docx(["x"]))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 6, 200)  # "version needed to extract" 20.0
    with pytest.raises(CorruptFile):
        screen_file("1.1 x.docx", bytes(data), config.settings.limits)


def test_mutations_keep_zip_damage_inside_a_readable_archive():
    from tests.builders import make_docx
    from tests.hostile import mutate

    rng = random.Random(3)
    seen = set()
    for _ in range(60):
        kind, data = mutate(make_docx(["Text i ett dokument."]), rng)
        seen.add(kind)
        if kind.startswith(("member_", "xml_")):
            zipfile.ZipFile(io.BytesIO(data)).namelist()  # still a zip; the damage is inside
    assert {"bit_flips", "member_duplicate", "xml_damage"} <= seen
