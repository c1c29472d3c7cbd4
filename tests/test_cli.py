"""The command line: what a coordinator types and sees."""

from __future__ import annotations

from tests.builders import make_docx, put


def test_build_prints_where_the_draft_is_and_status_shows_the_tracker(prefect_harness, tmp_path, capsys):
    from flows.cli import main

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.3 Kvalitet.docx", make_docx(["Kvalitet i butikerna."]))
    put(inbox, "myrorna/bilaga.pdf", b"%PDF-1.4")

    assert main(["build", "--inbox", str(inbox), "--out", str(out), "--no-review", "--formats", "docx"]) == 0
    printed = capsys.readouterr().out
    docx = next(out.glob("drafts/*/utkast.docx"))
    assert f"docx  {docx}" in printed
    assert "1 of 17 pieces received" in printed and "1 files rejected" in printed

    assert main(["status", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "1.3" in table and "Myrorna: mottagen" in table
    assert table.count("saknas") == 16


def test_infrastructure_and_usage_errors_exit_non_zero(prefect_harness, tmp_path, capsys):
    from flows.cli import main

    assert main(["build", "--inbox", str(tmp_path), "--out", "ftp://example/x", "--formats", "docx"]) == 3
    assert "unsupported storage URL" in capsys.readouterr().err
    assert main(["build", "--inbox", str(tmp_path), "--out", str(tmp_path / "o"), "--packages", "9"]) == 1
    assert "unknown paket [9]" in capsys.readouterr().err
    assert main(["status", "--out", str(tmp_path / "nothing")]) == 1
