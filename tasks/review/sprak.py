"""Each draft's language page: ``drafts/<version>/sprak.json`` and ``sprak.html`` (Swedish),
the terms the reports write in more than one way (:func:`tasks.review.variants.find_variants`).

Written under the draft's folder before ``drafts/latest.json`` moves, so it is published
with the draft. The reports' text is read from their normalised Markdown; only the forms
of the words and where they are (partner, piece, paragraph) are written, never the text
around them, so the page carries no personal data from a report.
"""

from __future__ import annotations

import json
import time

from tasks.core.config import Config
from tasks.core.templating import html_env, swedish_datetime
from tasks.intake.normalise import Report
from tasks.review.text import blocks_from_markdown
from tasks.review.variants import find_variants, load_terms
from tasks.storage.base import Storage


def sprak_keys(version: str) -> dict[str, str]:
    return {"json": f"drafts/{version}/sprak.json", "html": f"drafts/{version}/sprak.html"}


def report_texts(out: Storage, reports: list[Report], config: Config) -> list[dict]:
    """Each report's paragraphs (from its normalised Markdown), with partner and piece, and
    every piece of personal data the draft masks replaced by zeros (so no name, number or
    address can become a "form" on the page)."""
    from tasks.personal.mask import scan_ast
    from tasks.personal.rules import load_rules

    rules = load_rules(config.templates, config.registry)
    texts = []
    for r in sorted(reports, key=lambda r: (r.piece, r.partner)):
        try:
            markdown = out.read_text(r.md_key)
            found, _ = scan_ast(json.loads(out.read(r.ast_key)), rules, r.title)
        except FileNotFoundError:
            continue
        private = sorted({f.value for f in found} | {w for f in found for w in f.value.split() if len(w) > 1},
                         key=len, reverse=True)
        blocks = []
        for b in blocks_from_markdown(markdown):
            text = b.text
            for value in private:
                text = text.replace(value, "0" * len(value))
            blocks.append(text)
        texts.append({"partner": r.partner, "partner_name": config.registry.by_slug(r.partner).short,
                      "piece": r.piece, "blocks": blocks})
    return texts


def write_sprak(out: Storage, config: Config, reports: list[Report], version: str) -> dict:
    """Write ``sprak.json`` and ``sprak.html`` of draft ``version``; return what was written."""
    groups = find_variants(report_texts(out, reports, config), load_terms(config.templates))
    created = time.time()
    keys = sprak_keys(version)
    body = {"version": version, "created": created, "groups": groups}
    out.write(keys["json"], json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    page = html_env(config.templates).get_template("sprak.html.j2").render(
        version=version, groups=groups, created=swedish_datetime(created), outline=config.outline)
    out.write(keys["html"], page.encode("utf-8"), "text/html; charset=utf-8")
    return {"groups": len(groups), **keys}
