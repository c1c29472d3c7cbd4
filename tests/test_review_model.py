"""The learned error detector: the shipped model loads without network and marks words in
learner Swedish with Swedish messages, leaves correct prose alone, can be switched off in
templates/review.toml, and a typo in its settings names the file and the key."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from tasks.core.errors import ConfigError
from tasks.review import detector
from tasks.review.check import review_blocks
from tasks.review.settings import load_review_settings
from tasks.review.text import Block


def test_the_shipped_model_is_small_and_records_how_it_was_trained():
    model = detector.MODEL_DIR / detector.MODEL_FILE
    assert model.is_file() and model.stat().st_size <= 50 * 1024 * 1024
    import hashlib
    import json

    meta = json.loads((detector.MODEL_DIR / detector.META_FILE).read_text(encoding="utf-8"))
    assert meta["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert 0 < meta["threshold"] < 1 and meta["train_sentences"] > 5000


def test_tokens_and_sentences_as_the_model_sees_them():
    tokens = detector.tokenize("Jag bor i Växjö. Det är ESF-rådets t.ex. bästa stad!")
    assert [t.text for t in tokens][:5] == ["Jag", "bor", "i", "Växjö", "."]
    assert "ESF-rådets" in [t.text for t in tokens]
    assert [[t.text for t in s][0] for s in detector.sentences(tokens)] == ["Jag", "Det"]
    text = "Hon sa: hej."
    assert all(text[t.start:t.end] == t.text for t in detector.tokenize(text))


def test_the_model_marks_a_learner_error_with_a_swedish_message_and_a_suggestion():
    found = detector.Detector(threshold=0.5)
    sentence = "Hon tycker om att läsa bok."
    flags, _ = found.find(sentence, [])
    marked = {sentence[f.start:f.end]: f for f in flags}
    assert list(marked) == ["bok"]
    flag = marked["bok"]
    assert flag.message.startswith("”bok” ser inte ut att ha rätt form här") and flag.suggestions == ["böcker"]
    assert not any(ch.isdigit() for ch in flag.message)  # no bare score reaches the writer


def test_probabilities_are_lower_on_the_corrected_sentence():
    found = detector.Detector()
    wrong = detector.tokenize("Han gå till skolan varje dag.")
    right = detector.tokenize("Han går till skolan varje dag.")
    assert found.probabilities(wrong, [])[1] > 2 * found.probabilities(right, [])[1]


def test_words_the_rules_judge_are_left_to_them():
    found = detector.Detector(threshold=0.01)
    sentence = "Vi träffade Anna Lindqvist och pratade om arbetsmaknaden."
    flags, _ = found.find(sentence, [(sentence.index("arbetsmaknaden"), len(sentence) - 1, "HUNSPELL_RULE")])
    marked = [sentence[f.start:f.end] for f in flags]
    assert not {"Anna", "Lindqvist", "arbetsmaknaden"} & set(" ".join(marked).split())


def test_the_review_reports_model_findings_in_its_own_category(checker, settings):
    on = replace(settings, detector=True, detector_threshold=0.5)
    findings = review_blocks([Block("Hon tycker om att läsa bok.")], checker, on)
    mine = [f for f in findings if f["rule_id"] == detector.RULE_ID]
    assert mine and all(f["category_name"] == detector.CATEGORY_NAME for f in mine)
    assert all(f["message"] and f["severity"] in ("fel", "varning", "tips") for f in mine)
    off = replace(settings, detector=False)
    assert not [f for f in review_blocks([Block("Hon tycker om att läsa bok.")], checker, off)
                if f["rule_id"] == detector.RULE_ID]


def test_correct_prose_stays_quiet_at_the_shipped_threshold(checker, settings):
    text = ("Förstudien ska ta fram ett underlag för en genomförandeansökan. Partnerna skriver korta "
            "delrapporter under våren, och arbetsgruppen sammanställer dem i juni. I augusti granskas "
            "texten externt innan den slutliga versionen fastställs.")
    assert settings.detector
    findings = review_blocks([Block(text)], checker, settings)
    assert [f["text"] for f in findings if f["rule_id"] == detector.RULE_ID] == []


def test_the_setting_turns_the_model_off_and_a_typo_is_an_error(config, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(config.templates, templates)
    path = templates / "review.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nenabled = true", "\nenabled = false"), encoding="utf-8")
    settings = load_review_settings(templates, config.registry)
    assert settings.detector is False
    path.write_text(text.replace("\nenabled = true", "\nenabeld = true"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"review\.toml.*enabeld"):
        load_review_settings(templates, config.registry)
    path.write_text(text.replace("veto = 0.0", "veto = 2"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"review\.toml.*veto"):
        load_review_settings(templates, config.registry)


def test_the_rules_finding_density_counts_the_paragraphs_around():
    # words and rule findings per paragraph; window 1: itself and one either side
    words, hits = [100, 100, 100, 100], [0, 0, 6, 0]
    assert detector.rule_density(words, hits, 0) == [0.0, 0.0, 6.0, 0.0]
    assert detector.rule_density(words, hits, 1) == [0.0, 2.0, 2.0, 3.0]
    assert detector.rule_density(words, hits, 10) == [1.5] * 4
    assert detector.rule_density([0], [0], 3) == [0.0]  # an empty paragraph divides by nothing
    assert detector.rule_density([], [], 3) == []


def test_error_dense_text_is_told_from_fluent_prose_by_the_rules_findings_around():
    words, hits = [100, 100, 100, 100], [0, 0, 6, 0]
    assert detector.dense_paragraphs(words, hits, 2.5, 0) == [False, False, True, False]
    assert detector.dense_paragraphs(words, hits, 2.0, 1) == [False, True, True, True]
    assert detector.dense_paragraphs(words, hits, 2.5, 10) == [False] * 4


def test_the_threshold_of_one_paragraph_can_be_given():
    found = detector.Detector(threshold=0.999)
    sentence = "Hon tycker om att läsa bok."
    assert found.find(sentence, [])[0] == []
    assert [sentence[f.start:f.end] for f in found.find(sentence, [], threshold=0.5)[0]] == ["bok"]


def test_the_model_is_eager_only_where_the_rules_find_many_errors(checker, settings):
    learner = "Hon tycker om att läsa bok."
    on = replace(settings, detector=True, detector_threshold=0.999, detector_dense_threshold=0.5,
                 detector_dense_from=2.5, detector_dense_window=1)
    mine = lambda blocks: [f["text"] for f in review_blocks(blocks, checker, on) if f["rule_id"] == detector.RULE_ID]
    assert mine([Block(learner)]) == []  # no rule finds anything around it: the strict threshold
    messy = Block("Jag har myket att gjöra och jag vet inte vad jag skal göra i morgon.")
    assert "bok" in mine([messy, Block(learner)])  # a neighbour full of misspellings: the eager one
    item = Block("en punkt om att läsa bok.", kind="item")  # a list item may start in lower case
    marked = [f for f in review_blocks([messy, item], checker, on) if f["rule_id"] == detector.RULE_ID
              and f["block"] == 1]
    assert marked and all(f["block_offset"] > 0 for f in marked)
    off = replace(on, detector_dense_threshold=None)
    assert [f for f in review_blocks([messy, Block(learner)], checker, off) if f["rule_id"] == detector.RULE_ID] == []
    # The house style's findings are conventions, not errors: a neighbour full of them is no learner's.
    styled = Block("Vi fick t ex 10000 kronor, dvs 5% mer än bl a väntat.")
    assert {f["issue_type"] for f in review_blocks([styled], checker, on)} == {"style"}
    assert len(review_blocks([styled], checker, on)) >= 4
    assert mine([styled, Block(learner)]) == []


def test_the_dense_settings_are_validated(config, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(config.templates, templates)
    path = templates / "review.toml"
    text = path.read_text(encoding="utf-8")
    settings = load_review_settings(templates, config.registry)
    assert settings.detector_dense_threshold == 0.9 and settings.detector_dense_from == 2.5
    assert settings.detector_dense_window == 20
    for old, new, key in (("dense_threshold = 0.9", "dense_threshold = 1.5", "dense_threshold"),
                          ("dense_from = 2.5", "dense_from = -1", "dense_from"),
                          ("dense_window = 20", "dense_window = -2", "dense_window"),
                          ("dense_threshold = 0.9", "dense_thresold = 0.9", "dense_thresold")):
        assert "\n" + old in text
        path.write_text(text.replace("\n" + old, "\n" + new), encoding="utf-8")
        with pytest.raises(ConfigError, match=r"review\.toml.*" + key):
            load_review_settings(templates, config.registry)
    path.write_text(text.replace("\ndense_threshold = 0.9", ""), encoding="utf-8")
    assert load_review_settings(templates, config.registry).detector_dense_threshold is None


def test_the_figures_count_multiged_tokens_per_kind_as_the_shared_task_does():
    """scripts/score_review.py's MultiGED row by kind of token: a finding marks every token it
    overlaps; precision, recall and each kind's share of the errors follow from the marks."""
    from scripts.score_review import token_kind, token_scores

    vocab = detector.open_vocabulary()
    sents = [[("Jag", "c"), ("bor", "c"), ("i", "i"), ("Växjö", "c"), ("kommun", "c"), (".", "c")],
             [("Hon", "c"), ("har", "c"), ("enn", "i"), ("Bil", "i"), (",", "i")]]
    # "i" in the first sentence (offset 8) and "enn" (offset 8) are found; "Växjö" is a false alarm.
    per = [[{"block_offset": 8, "length": 1, "rule_id": "A"}, {"block_offset": 10, "length": 5, "rule_id": "A"}],
           [{"block_offset": 8, "length": 3, "rule_id": "B"}]]
    scores = token_scores(sents, per, lambda f: True, lambda tokens, i: token_kind(vocab, tokens, i))
    assert (scores["P"], scores["R"]) == (66.67, 50.0)
    kinds = scores["kinds"]
    assert kinds["unknown"]["R"] == 100.0 and kinds["capital"]["R"] == 0.0 and kinds["punct"]["R"] == 0.0
    assert kinds["capital"]["P"] == 0.0  # "Växjö" inside the sentence, marked but correct
    assert kinds["word"] == {"P": 100.0, "R": 100.0, "F0.5": 100.0, "errors": 25.0}
    only_b = token_scores(sents, per, lambda f: f["rule_id"] == "B")
    assert (only_b["P"], only_b["R"]) == (100.0, 25.0) and "kinds" not in only_b


def test_the_figures_page_keeps_what_is_written_below_its_table(tmp_path):
    from scripts.score_review import text_after_table

    page = tmp_path / "figures.md"
    assert text_after_table(page) == ""
    page.write_text("# Figures\n\nRegenerate with ...\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nWhat the figures say.\n",
                    encoding="utf-8")
    assert text_after_table(page) == "\nWhat the figures say.\n"
