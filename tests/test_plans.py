"""The decisions the flows only wire: the build's plan, which reviews a run redoes, the
run state's stored form, slots and batches. Plain functions, no Prefect."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tasks.core.config import PersonalDataSettings
from tasks.core.errors import UtkastError
from tasks.core.parallel import interleaved
from tasks.core.slots import Slot, in_outline_order, slot_label
from tasks.draft.plan import plan_build
from tasks.intake.normalise import Report
from tasks.review.plan import forget_review, plan_reviews, record_review
from tasks.storage.local import LocalStorage
from tasks.storage.state import RunState, dump_state, load_state, save_state


def report(partner: str, piece: str, sha: str = "a" * 64, words: int = 100) -> Report:
    return Report(partner=partner, piece=piece, source=f"{partner}/{piece} Rapport.docx", sha256=sha, kind="docx",
                  title="Rapport", words=words, version=1, received=0.0, converter="c1",
                  md_key=f"normalised/{partner}/{piece}.md", ast_key=f"cache/ast/{sha}.json")


REPORTS = {"myrorna/1.3": report("myrorna", "1.3"), "verdandi/4.2": report("verdandi", "4.2")}


def stopping(config):
    return replace(config, settings=config.settings.model_copy(
        update={"personal_data": PersonalDataSettings(action="stop")}))


# --- the build's plan --------------------------------------------------------------------


def test_a_first_build_publishes_every_report(config):
    plan = plan_build(config, REPORTS, {}, {}, ["docx"], None, latest=None)
    assert plan.action == "publish"
    assert [r.piece for r in plan.reports] == ["1.3", "4.2"] and plan.chosen == [1, 2, 3, 4, 5]


def test_a_build_with_the_latest_drafts_content_publishes_nothing(config):
    first = plan_build(config, REPORTS, {}, {}, ["docx"], None, latest=None)
    again = plan_build(config, REPORTS, {}, {}, ["docx"], None, latest={"fingerprint": first.fingerprint})
    assert again.action == "unchanged"
    changed = {**REPORTS, "verdandi/4.2": report("verdandi", "4.2", sha="b" * 64)}
    assert plan_build(config, changed, {}, {}, ["docx"], None, {"fingerprint": first.fingerprint}).action == "publish"
    assert plan_build(config, REPORTS, {}, {}, ["docx", "pdf"], None,
                      {"fingerprint": first.fingerprint}).action == "publish"


def test_chosen_paket_take_only_their_reports_pending_reviews_and_personal_data(config):
    plan = plan_build(config, REPORTS, {"myrorna/1.3": "1.3 Myrorna", "verdandi/4.2": "4.2 Verdandi"},
                      {"verdandi/4.2": {"total": 1}}, ["docx"], [1], latest=None)
    assert [r.piece for r in plan.reports] == ["1.3"]
    assert plan.pending == ["1.3 Myrorna"] and plan.personal == {} and plan.chosen == [1]


def test_personal_data_stops_the_build_only_when_the_settings_say_stop(config):
    found = {"verdandi/4.2": {"total": 2}}
    assert plan_build(config, REPORTS, {}, found, ["docx"], None, None).action == "publish"  # mask
    plan = plan_build(stopping(config), REPORTS, {}, found, ["docx"], None, None)
    assert plan.action == "stop" and plan.stop_labels(config) == ["4.2 Verdandi"]
    # personal data in a paket that is not built does not stop it
    assert plan_build(stopping(config), REPORTS, {}, found, ["docx"], [1], None).action == "publish"


def test_an_unknown_paket_is_refused(config):
    with pytest.raises(UtkastError):
        plan_build(config, REPORTS, {}, {}, ["docx"], [9], None)


# --- reviews -------------------------------------------------------------------------------


def key_of(r: Report) -> str:
    return "key-" + r.sha256[:4]


def test_unchanged_reviews_are_reused_changed_ones_redone(tmp_path):
    saved = {"myrorna/1.3": {"key": "key-aaaa", "sha256": "a" * 64, "summary": {"findings": 3}},
             "verdandi/4.2": {"key": "key-old0", "sha256": "0" * 64, "summary": {"findings": 1}}}
    plan = plan_reviews(REPORTS, saved, key_of)
    assert plan.reuse == {"myrorna/1.3": {"findings": 3}}
    assert [(slot, key) for slot, _, key in plan.todo] == [("verdandi/4.2", "key-aaaa")]
    assert plan.forget == [] and plan.words == 100


def test_without_review_a_stale_review_is_forgotten_and_a_withdrawn_report_too(tmp_path):
    saved = {"verdandi/4.2": {"key": "key-old0", "sha256": "0" * 64, "summary": {}},
             "forum/5.1": {"key": "k", "sha256": "f" * 64, "summary": {}}}
    plan = plan_reviews(REPORTS, saved, key_of, enabled=False)
    assert plan.todo == [] and sorted(plan.forget) == ["forum/5.1", "verdandi/4.2"]


def test_forgetting_a_review_deletes_its_three_outputs(tmp_path):
    out = LocalStorage(tmp_path)
    for ext in ("json", "html", "docx"):
        out.write(f"review/forum/5.1.{ext}", b"x", "application/octet-stream")
    saved = {"forum/5.1": {"key": "k"}}
    forget_review(out, saved, "forum/5.1")
    assert saved == {} and not list(out.list("review/"))


def test_a_pending_review_keeps_a_saved_review_of_the_same_text_only(tmp_path):
    out = LocalStorage(tmp_path)
    r = REPORTS["myrorna/1.3"]
    saved = {"myrorna/1.3": {"key": "old", "sha256": r.sha256, "summary": {"findings": 2}}}
    assert record_review(out, saved, "myrorna/1.3", r, "new", {"pending": True}) is True
    assert saved["myrorna/1.3"]["key"] == "old"
    other = replace(r, sha256="c" * 64)
    assert record_review(out, saved, "myrorna/1.3", other, "new", {"pending": True}) is True
    assert "myrorna/1.3" not in saved
    assert record_review(out, saved, "myrorna/1.3", other, "k2", {"pending": False, "findings": 0}) is False
    assert saved["myrorna/1.3"] == {"key": "k2", "sha256": "c" * 64, "summary": {"pending": False, "findings": 0}}


# --- the run state ---------------------------------------------------------------------------


def test_the_run_state_keeps_its_stored_layout_and_writes_only_when_it_learnt_something(tmp_path):
    out = LocalStorage(tmp_path)
    stored = {"inbox": {"screen": "fp", "files": {"myrorna/a.docx": {"sha256": "x"}}}, "notes": {"n": "d"},
              "reports": {"myrorna/1.3": {"sha256": "x"}}, "failed": {}, "media": ["b.png", "a.png"],
              "personal": {}, "review": {"myrorna/1.3": {"key": "k"}}}
    out.write("cache/state.json", json.dumps(stored).encode(), "application/json")
    state = load_state(out)
    assert state.screening.fingerprint == "fp" and state.conversions.media == ["b.png", "a.png"]
    assert state.reviews == {"myrorna/1.3": {"key": "k"}}
    loaded = dump_state(state)
    assert json.loads(loaded) == {**stored, "media": ["a.png", "b.png"]}
    assert save_state(out, state, loaded) is False
    state.notes["other"] = "e"
    assert save_state(out, state, loaded) is True and load_state(out).notes["other"] == "e"


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"inbox": 3, "media": "x"}'])
def test_a_damaged_state_is_forgotten_not_trusted(tmp_path, text):
    out = LocalStorage(tmp_path)
    if text:
        out.write("cache/state.json", text.encode(), "application/json")
    state = load_state(out)
    assert state == RunState() or (state.screening.files == {} and state.conversions.media == [])


# --- slots and batches -----------------------------------------------------------------------


def test_a_slot_has_one_key_and_one_label():
    slot = Slot("myrorna", "1.3")
    assert slot.key == "myrorna/1.3" and Slot.parse("myrorna/1.3") == slot
    assert slot.label({"myrorna": "Myrorna"}) == "1.3 Myrorna" and slot_label("forum/5.1", {}) == "5.1 forum"
    assert in_outline_order(["verdandi/4.2", "myrorna/1.3", "coompanion/1.3"]) == [
        "coompanion/1.3", "myrorna/1.3", "verdandi/4.2"]


def test_batches_are_dealt_round_robin_and_never_empty():
    assert interleaved(list(range(7)), 3) == [[0, 3, 6], [1, 4], [2, 5]]
    assert interleaved([1], 4) == [[1]] and interleaved([], 2) == []
