"""Each draft's language page: ``drafts/<version>/sprak.json`` and ``sprak.html`` (Swedish),
the terms the reports write in more than one way (:func:`tasks.review.variants.find_variants`).

Written under the draft's folder before ``drafts/latest.json`` moves, so it is published
with the draft. The reports' text is read from their masked AST (the draft's text); only the forms
of the words and where they are (partner, piece, paragraph) are written, never the text
around them, so the page carries no personal data from a report.
"""

from __future__ import annotations

import hashlib
import json
import time

from tasks.core.config import Config
from tasks.core.templating import html_env, swedish_datetime
from tasks.intake.normalise import Report
from tasks.review.text import blocks_from_pandoc
from tasks.review.variants import TermList, find_variants, load_terms, report_occurrences
from tasks.storage.base import Storage, read_present


def sprak_keys(version: str) -> dict[str, str]:
    return {"json": f"drafts/{version}/sprak.json", "html": f"drafts/{version}/sprak.html"}


# What :func:`note_report` keeps in cache/sprak/ changes with this (and with the masked text
# and the term list).
FOUND_FORMAT = "3"


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
        ast = json.loads(out.read(report.masked_key or report.ast_key))
    except FileNotFoundError:
        return None
    if report.masked_key is None:
        scan_ast(ast, rules, report.title, mask=True)
    return [b.text for b in blocks_from_pandoc(ast)]


def note_report(out: Storage, masked_key: str, ast: dict, terms: TermList) -> dict:
    """What a report contributes to the page (:func:`report_occurrences` of the paragraphs of
    its masked AST ``ast``, kept at :func:`found_key`): found as soon as its masked text is
    known, while the run goes on, so the page only groups."""
    found = report_occurrences([b.text for b in blocks_from_pandoc(ast)], terms)
    out.write(found_key(masked_key, terms), json.dumps(found, ensure_ascii=False).encode("utf-8"), "application/json")
    return found


def report_found(out: Storage, report: Report, rules, terms: TermList, kept: bytes | None = None) -> dict | None:
    """What a report contributes to the page: ``kept`` (what :func:`found_key` holds, read by
    the caller), else found now and kept; None when the report is gone."""
    if kept is not None:
        return json.loads(kept)
    blocks = _masked_blocks(out, report, rules)
    if blocks is None:
        return None
    found = report_occurrences(blocks, terms)
    if report.masked_key:
        out.write(found_key(report.masked_key, terms), json.dumps(found, ensure_ascii=False).encode("utf-8"),
                  "application/json")
    return found


def report_texts(out: Storage, reports: list[Report], config: Config, terms: TermList) -> list[dict]:
    """Each report's partner, piece and what it contributes to the page (:func:`report_found`)."""
    from tasks.personal.rules import load_rules

    rules = load_rules(config.templates, config.registry)
    ordered = sorted(reports, key=lambda r: (r.piece, r.partner))
    keys = [found_key(r.masked_key, terms) for r in ordered if r.masked_key]
    kept = dict(zip(keys, read_present(out, keys)))
    texts = []
    for r in ordered:
        found = report_found(out, r, rules, terms, kept.get(found_key(r.masked_key, terms)) if r.masked_key else None)
        if found is not None:
            texts.append({"partner": r.partner, "partner_name": config.registry.by_slug(r.partner).short,
                          "piece": r.piece, "occurrences": found})
    return texts


def write_sprak(out: Storage, config: Config, reports: list[Report], version: str) -> dict:
    """Write ``sprak.json`` and ``sprak.html`` of draft ``version``; return what was written."""
    terms = load_terms(config.templates)
    groups = find_variants(report_texts(out, reports, config, terms), terms)
    created = time.time()
    keys = sprak_keys(version)
    body = {"version": version, "created": created, "groups": groups}
    out.write(keys["json"], json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    page = html_env(config.templates).get_template("sprak.html.j2").render(
        version=version, groups=groups, created=swedish_datetime(created), outline=config.outline)
    out.write(keys["html"], page.encode("utf-8"), "text/html; charset=utf-8")
    return {"groups": len(groups), **keys}
