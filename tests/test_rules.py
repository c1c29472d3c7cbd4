"""The project's own Swedish grammar rules (templates/regler/*.xml): every example of every
rule goes through the real engine. An example with ``correction="..."`` must be found by its
rule exactly at its ``<marker>`` with that suggestion; an example without must not be found."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tasks.review.checker import EmbeddedChecker, check_with_engine
from tasks.review.settings import load_review_settings, project_rule_files


def _examples(config):
    """(rule id, example text, marker span or None, corrections) for every example."""
    found = []
    for path in project_rule_files(config.templates):
        root = ET.parse(path).getroot()
        for category in root.iter("category"):
            for node in category:
                rules = [node] if node.tag == "rule" else list(node.iter("rule")) if node.tag == "rulegroup" else []
                for rule in rules:
                    rule_id = rule.get("id") or node.get("id")
                    for ex in rule.iter("example"):
                        raw = ET.tostring(ex, encoding="unicode")
                        inner = re.sub(r"^<example[^>]*>|</example>\s*$", "", raw.strip(), flags=re.S)
                        inner = inner.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
                        start = inner.find("<marker>")
                        text = inner.replace("<marker>", "").replace("</marker>", "")
                        span = (start, inner.find("</marker>") - len("<marker>")) if start >= 0 else None
                        correction = ex.get("correction")
                        found.append((rule_id, text, span, None if correction is None else correction.split("|")))
    return found


@pytest.fixture(scope="module")
def engine(config):
    settings = load_review_settings(config.templates, config.registry)
    checker = EmbeddedChecker(settings.tuning)
    try:
        yield checker.engine()
    finally:
        checker.close()


def test_every_project_rule_has_a_swedish_message_and_examples_both_ways(config):
    examples = _examples(config)
    assert len({rule for rule, *_ in examples}) >= 15
    for path in project_rule_files(config.templates):
        root = ET.parse(path).getroot()
        for rule in root.iter("rule"):
            message = "".join(rule.find("message").itertext())
            assert re.search(r"(?i)[åäöÅÄÖ]|\b(och|är|ska|som|skriv\w*|efter|står|inte|ordet)\b", message), message
            kinds = {ex.get("correction") is not None for ex in rule.iter("example")}
            assert kinds == {True, False}, ET.tostring(rule, encoding="unicode")[:200]


def test_every_example_of_every_project_rule(config, engine):
    failures = []
    for rule_id, text, span, corrections in _examples(config):
        mine = [f for f in check_with_engine(engine, text) if f.rule_id == rule_id]
        if corrections is None:
            if mine:
                failures.append(f"{rule_id}: found in a correct example: {text!r} -> {[f.suggestions for f in mine]}")
            continue
        at = [f for f in mine if (f.offset, f.offset + f.length) == span]
        if not at:
            failures.append(f"{rule_id}: not found at {text[span[0]:span[1]]!r} in {text!r} "
                            f"(found: {[(text[f.offset:f.offset + f.length], f.suggestions) for f in mine]})")
        elif not all(c in at[0].suggestions for c in corrections if c):
            failures.append(f"{rule_id}: suggestions {at[0].suggestions} lack {corrections} in {text!r}")
    assert not failures, "\n".join(failures)
