"""The reviewers' page, ``drafts/index.html``: every draft, links, what changed."""

from __future__ import annotations

import time

from tasks.core.config import Config
from tasks.core.slots import slot_label
from tasks.core.templating import html_env, swedish_datetime
from tasks.draft.catalogue import change_links, list_versions, read_entry
from tasks.storage.base import DEFAULT_LINK_SECONDS, Storage

INDEX = "drafts/index.html"
def write_index(out: Storage, config: Config, link_seconds: int | None = None) -> str:
    """Regenerate ``drafts/index.html``, the reviewers' page (fresh links every build)."""
    names = {p.slug: p.short for p in config.registry.partners}
    drafts = []
    compared = change_links(out, INDEX, **({"expires": link_seconds} if link_seconds else {}))
    for version in list_versions(out):
        entry = read_entry(out, version, keep=True)  # kept for a draft from before the entries
        if not entry:
            continue
        kwargs = {"expires": link_seconds} if link_seconds else {}
        links = {fmt: out.href(key, from_key=INDEX, filename=f"utkast-{version}.{fmt}", **kwargs)
                 for fmt, key in entry["formats"].items()}
        drafts.append({
            **{k: entry[k] for k in ("created", "reports", "missing", "rejected", "previous", "problems")},
            "version": version, "links": links,
            **{kind: [slot_label(s, names) for s in entry[kind]] for kind in ("new", "updated", "withdrawn")},
            "compared": compared.get(version, {"changes": {}, "comparisons": []}),
        })
    now = time.time()
    links_until = swedish_datetime(now + (link_seconds or DEFAULT_LINK_SECONDS)) if out.links_expire else None
    html = html_env(config.templates).get_template("index.html.j2").render(
        outline=config.outline, drafts=drafts, generated=swedish_datetime(now),
        pieces_total=len(config.outline.pieces), links_until=links_until)
    out.write(INDEX, html.encode("utf-8"), "text/html; charset=utf-8")
    return INDEX


