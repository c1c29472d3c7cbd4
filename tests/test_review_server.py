"""The LanguageTool server path: utkast's HTTP client against a real HTTP server on
127.0.0.1 that speaks LanguageTool's /v2 protocol (backed by the embedded rules)."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from tasks.core.errors import CheckerUnavailable
from tasks.review.check import review_blocks
from tasks.review.checker import EmbeddedChecker, ServerChecker, open_checker
from tasks.review.text import Block
from tests.lt_server import LanguageToolStandIn
from tests.test_review import EXPECTED, PLANTED, _found


@pytest.fixture
def lt_server():
    server = LanguageToolStandIn().start()
    yield server
    server.stop()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_server_findings_have_the_same_shape_and_places_as_the_embedded_engine(lt_server, settings):
    texts = PLANTED + ["Åsa 😀 på Öland har har en båt , sa hon."]
    plain = replace(settings.tuning, spelling_words=())  # a server has no project word list
    server = ServerChecker(lt_server.url, plain)
    assert server.check(texts) == EmbeddedChecker(plain).check(texts)
    # Through the whole review (dictionary filter included) the findings are the planted ones.
    findings = review_blocks([Block(t) for t in PLANTED], server, settings)
    assert _found(findings) == EXPECTED
    emoji = review_blocks([Block(texts[2])], server, settings)
    assert [(f["offset"], f["text"]) for f in emoji] == [(15, "har har"), (texts[2].index(" ,"), " ,")]
    assert server.server_version.startswith("LanguageTool stand-in")


def test_what_is_sent_language_text_account_and_disabled_rules(lt_server, settings):
    tuning = replace(settings.tuning, disabled_rules=("WHITESPACE_RULE",), max_request_chars=200)
    server = ServerChecker(lt_server.url, tuning, username="samordnare@example.org", api_key="hemlig")
    found = server.check(PLANTED)
    assert "WHITESPACE_RULE" not in {f.rule_id for fs in found for f in fs}
    # Paragraphs are packed into requests of at most max_request_chars (one each here).
    assert sorted(r["text"] for r in lt_server.requests) == sorted(PLANTED)
    for request in lt_server.requests:
        assert request["language"] == "sv-SE"
        assert request["username"] == "samordnare@example.org" and request["apiKey"] == "hemlig"
        assert request["disabledRules"] == "WHITESPACE_RULE"
        assert set(request) == {"language", "text", "username", "apiKey", "disabledRules"}


def test_paragraphs_share_requests_and_parallel_requests_are_limited(lt_server, settings):
    lt_server.delay = 0.05
    texts = [f"Stycke {n} har har ett fel." for n in range(40)]
    server = ServerChecker(lt_server.url, replace(settings.tuning, max_request_chars=120, max_parallel_requests=2))
    found = server.check(texts)
    assert [[(f.offset, f.length) for f in fs] for fs in found] == [[(len(f"Stycke {n} "), 7)] for n in range(40)]
    assert 1 < len(lt_server.requests) < 40
    assert all(len(r["text"]) <= 120 for r in lt_server.requests)
    assert sum(r["text"].count("\n\n") + 1 for r in lt_server.requests) == 40  # every paragraph once
    assert lt_server.max_in_flight <= 2


def test_a_dropped_connection_is_retried(lt_server, settings):
    server = ServerChecker(lt_server.url, replace(settings.tuning, retry_delay_seconds=0))
    server.client()
    lt_server.fail_next = 1
    found = server.check([PLANTED[0]])
    assert [f.rule_id for f in found[0]] == ["HUNSPELL_RULE", "HUNSPELL_RULE", "WORD_REPEAT_RULE",
                                             "WHITESPACE_RULE", "COMMA_PARENTHESIS_WHITESPACE"]
    assert len(lt_server.requests) == 2


def test_a_refused_text_is_not_retried(lt_server, settings):
    server = ServerChecker(lt_server.url, replace(settings.tuning, retry_delay_seconds=0))
    lt_server.refuse_next = 1
    with pytest.raises(CheckerUnavailable, match="refused the text"):
        server.check([PLANTED[0]])
    assert len(lt_server.requests) == 1


def test_an_unreachable_server_makes_the_checker_unavailable(settings):
    server = ServerChecker(closed_port_url(), replace(settings.tuning, retries=1, retry_delay_seconds=0))
    with pytest.raises(CheckerUnavailable, match="did not answer"):
        server.check(PLANTED)
    with pytest.raises(CheckerUnavailable):  # and says so at once afterwards
        server.check(PLANTED)


def test_an_answer_slower_than_the_timeout_counts_as_no_answer(lt_server, settings):
    lt_server.delay = 2.0  # the library's own timeout is 300 s; review.toml's is used
    server = ServerChecker(lt_server.url, replace(settings.tuning, timeout_seconds=0.3, retries=1,
                                                  retry_delay_seconds=0))
    with pytest.raises(CheckerUnavailable, match="did not answer .check.: .*Timeout"):
        server.check([PLANTED[0]])
    assert len(lt_server.requests) == 2  # tried, and tried once more


def test_a_server_under_a_path_with_a_password_in_its_address(lt_server, settings):
    import base64

    url = lt_server.url.replace("http://", "http://ombud:hemligt@") + "granskning/"
    server = ServerChecker(url, settings.tuning)
    found = server.check([PLANTED[0]])
    assert "WORD_REPEAT_RULE" in [f.rule_id for f in found[0]]
    basic = "Basic " + base64.b64encode(b"ombud:hemligt").decode()
    assert lt_server.seen == [("GET", "/granskning/v2/languages", basic), ("POST", "/granskning/v2/check", basic)]
    assert "hemligt" not in server.description + server.engine_id


def test_the_server_is_used_only_when_configured(settings):
    assert isinstance(open_checker(settings.tuning, env={}), EmbeddedChecker)
    chosen = open_checker(settings.tuning, env={"LANGUAGETOOL_URL": "http://127.0.0.1:8081",
                                               "LANGUAGETOOL_USERNAME": "u", "LANGUAGETOOL_API_KEY": "k"})
    assert isinstance(chosen, ServerChecker) and chosen.url == "http://127.0.0.1:8081"
    assert (chosen.username, chosen.api_key) == ("u", "k")


def test_a_server_that_does_not_check_the_language_is_unavailable_at_once(lt_server, settings):
    server = ServerChecker(lt_server.url, replace(settings.tuning, language="de-DE", retry_delay_seconds=0))
    with pytest.raises(CheckerUnavailable, match="does not check de-DE"):
        server.check(PLANTED)
    assert lt_server.requests == []  # no text was sent


def test_the_api_address_from_the_configured_url():
    from tasks.review.checker import api_base

    assert api_base("http://languagetool.internal:8081") == "http://languagetool.internal:8081/v2/"
    assert api_base("https://api.languagetool.org/v2") == "https://api.languagetool.org/v2/"
    assert api_base("https://intra.example/lt/") == "https://intra.example/lt/v2/"
    assert api_base("127.0.0.1:8081") == "http://127.0.0.1:8081/v2/"
