"""Comparing drafts and reading reviewers' files, step by step (no Prefect)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from docx import Document
from docx.oxml.ns import qn

from tests.builders import comment_on_words, make_docx, track_insertion


def tracked(docx: bytes) -> list[tuple[str, str]]:
    """(ins|del, text) of every tracked change with text, in document order."""
    body = Document(io.BytesIO(docx)).element.body
    found = []
    for el in body.iter(qn("w:ins"), qn("w:del")):
        text = "".join(t.text or "" for t in el.iter(qn("w:t"), qn("w:delText")))
        if text:
            found.append((el.tag.rsplit("}", 1)[1], text))
    return found


def test_word_diff_marks_the_words_that_changed_not_the_paragraph():
    from tasks.roundtrip.compare import word_diff

    assert word_diff("Myrorna arbetar i alla butiker.", "Myrorna arbetar i nästan alla butiker.") == [
        ("=", "Myrorna arbetar i "), ("+", "nästan "), ("=", "alla butiker.")]
    assert word_diff("Vi har alla butiker i landet.", "Vi har de flesta affärer i landet.") == [
        ("=", "Vi har "), ("-", "alla butiker"), ("+", "de flesta affärer"), ("=", " i landet.")]


def test_align_pairs_an_edited_paragraph_and_keeps_new_and_removed_ones_whole():
    from tasks.roundtrip.compare import align

    def rec(texts, partner="myrorna"):
        return [{"text": t, "paket": 1, "piece": "1.3", "partner": partner} for t in texts]

    steps = align(rec(["Första stycket om kvalitet.", "Det här tas bort helt.", "Sista."]),
                  rec(["Första stycket om god kvalitet.", "Ett helt nytt stycke kom in.", "Sista."]))
    assert [(s.op, s.old, s.new) for s in steps] == [
        ("edit", 0, 0), ("delete", 1, None), ("insert", None, 1), ("equal", 2, 2)]
    assert steps[0].segments == [("=", "Första stycket om "), ("+", "god "), ("=", "kvalitet.")]
    # A short paragraph rewritten in place is still compared word by word.
    steps = align(rec(["Myrorna arbetar med kvalitet i butikerna."]),
                  rec(["Myrorna jobbar aktivt med kvalitetssäkring i butikerna."]))
    assert [s.op for s in steps] == ["edit"]
    assert steps[0].segments == [("=", "Myrorna "), ("-", "arbetar"), ("+", "jobbar aktivt"), ("=", " med "),
                                 ("-", "kvalitet"), ("+", "kvalitetssäkring"), ("=", " i butikerna.")]
    # The same words under another partner are not the same paragraph.
    steps = align(rec(["Samma text."], "myrorna"), rec(["Samma text."], "verdandi"))
    assert [s.op for s in steps] == ["delete", "insert"]


def test_redline_keeps_formatting_and_marks_word_level_changes(config):
    from tasks.core.wordtext import read_draft_text
    from tasks.roundtrip.compare import align
    from tasks.roundtrip.redline import redline_docx

    old_doc = make_docx(["Ett två tre.", "Det här stycket tas bort."])
    doc = Document()
    p = doc.add_paragraph("Ett ")
    p.add_run("två").bold = True
    p.add_run(" fyra tre.")
    doc.add_paragraph("Ett nytt stycke.")
    buf = io.BytesIO()
    doc.save(buf)
    new_doc = buf.getvalue()
    old, new = read_draft_text(old_doc, config), read_draft_text(new_doc, config)
    when = datetime(2026, 8, 12, 9, 30, tzinfo=timezone.utc)
    red = redline_docx(new_doc, new, old, align(old, new), when, "Jämförelse")

    assert tracked(red) == [("ins", "fyra "), ("del", "Det här stycket tas bort."), ("ins", "Ett nytt stycke.")]
    result = Document(io.BytesIO(red))
    assert result.paragraphs[0].text == "Jämförelse"
    bold = [r.text for r in result.paragraphs[1].runs if r.bold]
    assert bold == ["två"]
    changes = list(result.element.body.iter(qn("w:ins"), qn("w:del")))
    assert {c.get(qn("w:author")) for c in changes} == {"utkast"}
    assert {c.get(qn("w:date")) for c in changes} == {"2026-08-12T09:30:00Z"}
    assert len({c.get(qn("w:id")) for c in changes}) == len(changes)


def test_returned_copy_yields_comments_and_tracked_changes_with_their_words():
    from tasks.core.wordtext import read_returned

    doc = Document(io.BytesIO(make_docx(["Myrorna arbetar med kvalitet i alla butiker.", "Andra stycket."])))
    comment_on_words(doc, "alla butiker", "Stämmer det?", "Anna")
    track_insertion(doc, "Andra", " korta", "Bo", date="2026-08-10T09:00:00Z")
    buf = io.BytesIO()
    doc.save(buf)
    returned = read_returned(buf.getvalue())

    # The text as it was sent: the reviewer's insertion is not part of it.
    assert returned.paragraphs == ["Myrorna arbetar med kvalitet i alla butiker.", "Andra stycket."]
    marks = {m.kind: m for m in returned.marks}
    assert (marks["comment"].anchor, marks["comment"].text, marks["comment"].author) == (
        "alla butiker", "Stämmer det?", "Anna")
    assert marks["comment"].paragraph == 0
    assert (marks["insert"].inserted, marks["insert"].author, marks["insert"].paragraph) == ("korta", "Bo", 1)


def test_status_file_problems_name_the_file_and_key_and_never_raise(tmp_path):
    from tasks.roundtrip.feedback import STATUS_KEY
    from tasks.roundtrip.points import read_statuses
    from tasks.storage.local import LocalStorage

    out = LocalStorage(tmp_path)
    out.write(STATUS_KEY, (
        '[punkter]\n'
        'aaaaaaaaaa = "klar"\n'
        'bbbbbbbbbb = { status = "besvarad", svar = "Fixat i version 2." }\n'
        'cccccccccc = "kanske"\n'
        'dddddddddd = { status = "open", svaret = "x" }\n'
        '[annat]\n').encode())
    statuses, problems = read_statuses(out, {"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"})
    assert statuses["aaaaaaaaaa"] == {"status": "done", "answer": None}
    assert statuses["bbbbbbbbbb"] == {"status": "answered", "answer": "Fixat i version 2."}
    assert "cccccccccc" not in statuses
    assert "feedback/status.toml: annat: okänd nyckel; punkterna står under [punkter]" in problems
    assert any(p.startswith("feedback/status.toml: punkter.cccccccccc: okänd status 'kanske'") for p in problems)
    assert any(p.startswith("feedback/status.toml: punkter.dddddddddd: okänd nyckel 'svaret'") for p in problems)

    out.write(STATUS_KEY, b"[punkter\nx = ")
    statuses, problems = read_statuses(out)
    assert statuses == {} and problems[0].startswith("feedback/status.toml: -: inte giltig TOML")


def test_aligning_paket_by_paket_gives_what_aligning_the_whole_records_gives():
    from tasks.roundtrip.compare import align, align_by_paket, paket_runs

    def para(text, paket=None, piece=None, partner=None):
        return {"text": text, "style": "BodyText", "level": 0, "table": False, "paket": paket, "piece": piece,
                "partner": partner}

    front = [para("Utkast 1"), para("Version: a")]
    one = [para("Paket 1. Verksamheter", 1)] + [para(f"Stycke {i} om kvalitet i butiken.", 1, "1.3", "myrorna")
                                                   for i in range(30)]
    two = [para("Paket 2. Stöd", 2)] + [para(f"Stycke {i} om stöd och matchning.", 2, "2.1", "forum")
                                         for i in range(20)]
    old = front + one + two
    changed = [para("Utkast 2"), para("Version: b")] + one[:10] + [para("Ett nytt stycke.", 1, "1.3", "myrorna")] \
        + one[10:17] + [para("Stycke 17 om kvalitet i nästan alla butiker.", 1, "1.3", "myrorna")] + one[19:] + two
    assert [r[0] for r in paket_runs(changed)] == [None, 1, 2]
    by_paket = [(s.op, s.old, s.new, s.segments) for s in align_by_paket(old, changed)]
    assert by_paket == [(s.op, s.old, s.new, s.segments) for s in align(old, changed)]
    assert {op for op, *_ in by_paket} == {"equal", "edit", "insert", "delete"}
    assert align_by_paket(old, old) == align(old, old)
    assert paket_runs(front + two + one + two) is None  # a paket in two places: aligned whole
