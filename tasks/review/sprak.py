"""Each draft's language page: ``drafts/<version>/sprak.json`` and ``sprak.html`` (Swedish),
the terms the reports write in more than one way (:func:`tasks.review.variants.find_variants`).

Written under the draft's folder before ``drafts/latest.json`` moves, so it is published
with the draft. The reports' text is read from their masked AST (the draft's text); only the forms
of the words and where they are (partner, piece, paragraph) are written, never the text
around them, so the page carries no personal data from a report.
"""

from __future__ import annotations

import hashlib
import time

from tasks.core import jsonfast
from tasks.core.config import Config
from tasks.core.templating import html_env, swedish_datetime
from tasks.intake.normalise import Report
from tasks.review.text import block_texts
from tasks.review.variants import Contribution, TermList, contribution, group_variants, load_terms, report_occurrences
from tasks.storage.base import Storage, read_present, write_all


def sprak_keys(version: str) -> dict[str, str]:
    return {"json": f"drafts/{version}/sprak.json", "html": f"drafts/{version}/sprak.html"}


# What :func:`note_report` keeps in cache/sprak/ changes with this (and with the masked text
# and the term list).
FOUND_FORMAT = "5"


def found_key(masked_key: str, terms: TermList) -> str:
    """Where what a report contributes to the page is kept: by its masked text and the term list."""
    digest = hashlib.sha256(f"{FOUND_FORMAT}\0{masked_key}\0{terms.fingerprint}".encode()).hexdigest()
    return f"cache/sprak/{digest[:32]}.json"


def _masked_blocks(out: Storage, report: Report, rules) -> list[str] | None:
    """A report's paragraphs as the draft shows them: from its masked AST (every piece of
    personal data the draft masks is masked here too, so no name, number or address can become
    a "form" on the page); None when it is gone. A report the personal-data scan has not seen
    (no ``masked_key``) is masked here, by ``rules``."""
    from tasks.personal.mask import scan_ast

    try:
        ast = jsonfast.loads(out.read(report.masked_key or report.ast_key))
    except FileNotFoundError:
        return None
    if report.masked_key is None:
        scan_ast(ast, rules, report.title, mask=True)
    return block_texts(ast)


def note_report(out: Storage, masked_key: str, ast: dict, terms: TermList) -> None:
    """Keep what a report contributes to the page (:func:`report_occurrences` of the paragraphs
    of its masked AST ``ast``): found as soon as its masked text is known, while the run goes
    on, so the page only groups."""
    _keep_found(out, masked_key, terms, block_texts(ast))


def _keep_found(out: Storage, masked_key: str, terms: TermList, blocks: list[str]) -> dict:
    """Keep two objects: the listed terms, the words (as JSON text, read when needed) and the
    keys of the runs of words (:func:`found_key`); beside it the masked paragraphs, from which
    a report's runs of words are found again when one is one word somewhere (seldom)."""
    found = report_occurrences(blocks, terms, phrases=False)
    key = found_key(masked_key, terms)
    main = {"listed": found["listed"], "w": jsonfast.dumps(found["w"]).decode("utf-8"), "pk": " ".join(found["pk"])}
    write_all(out, [(_blocks_key(key), jsonfast.dumps(blocks), "application/json"),
                    (key, jsonfast.dumps(main), "application/json")])
    return found


def _blocks_key(key: str) -> str:
    return key.removesuffix(".json") + ".blocks.json"


def _kept_contribution(out: Storage, report: Report, name: str, key: str, kept: bytes,
                       terms: TermList) -> Contribution:
    """A report's :class:`Contribution` as kept at ``key``: only the listed terms and two
    strings stay in memory."""
    main = jsonfast.loads(kept)
    words, phrase_keys = main["w"], main["pk"]
    return Contribution(report.partner, name, report.piece, main["listed"], lambda: jsonfast.loads(words),
                        lambda: set(phrase_keys.split()),
                        lambda: report_occurrences(jsonfast.loads(out.read(_blocks_key(key))), terms)["p"])


def report_contributions(out: Storage, reports: list[Report], config: Config, terms: TermList) -> list[Contribution]:
    """What each report contributes to the page: as kept (:func:`note_report`), else found now
    from its masked text and kept; a report whose text is gone contributes nothing."""
    from tasks.personal.rules import load_rules

    rules = load_rules(config.templates, config.registry)
    ordered = sorted(reports, key=lambda r: (r.piece, r.partner))
    keys = [found_key(r.masked_key, terms) if r.masked_key else None for r in ordered]
    present = [k for k in keys if k]
    kept = dict(zip(present, read_present(out, present)))
    found = []
    for r, key in zip(ordered, keys):
        name = config.registry.by_slug(r.partner).short
        if key and kept.get(key) is not None:
            found.append(_kept_contribution(out, r, name, key, kept.pop(key), terms))
            continue
        blocks = _masked_blocks(out, r, rules)
        if blocks is not None:
            if key:
                _keep_found(out, r.masked_key, terms, blocks)
            found.append(contribution(r.partner, name, r.piece, report_occurrences(blocks, terms)))
    return found


def write_sprak(out: Storage, config: Config, reports: list[Report], version: str) -> dict:
    """Write ``sprak.json`` and ``sprak.html`` of draft ``version``; return what was written."""
    terms = load_terms(config.templates)
    groups = group_variants(report_contributions(out, reports, config, terms))
    created = time.time()
    keys = sprak_keys(version)
    body = {"version": version, "created": created, "groups": groups}
    out.write(keys["json"], jsonfast.dumps(body), "application/json")
    page = html_env(config.templates).get_template("sprak.html.j2").render(
        version=version, groups=groups, created=swedish_datetime(created), outline=config.outline)
    out.write(keys["html"], page.encode("utf-8"), "text/html; charset=utf-8")
    return {"groups": len(groups), **keys}
