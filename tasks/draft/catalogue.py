"""The catalogue of published drafts: publish one (formats, manifest, then ``latest.json``),
list them, read the latest.
"""

from __future__ import annotations

import json
import re

from tasks.core.formats import draft_mime
from tasks.draft.render import Rendered
from tasks.storage.base import Storage

LATEST = "drafts/latest.json"
# Next to a draft: its changes since the previous draft, and comparisons made with `utkast diff`.
CHANGES = "andringar"
COMPARISON = "jamforelse-"


def changes_key(version: str, ext: str) -> str:
    """Where a draft's changes since the previous draft are (``json``, ``html``, ``docx``)."""
    return f"drafts/{version}/{CHANGES}.{ext}"


def read_latest(out: Storage) -> dict | None:
    text = out.read_text(LATEST)
    return json.loads(text) if text else None


def read_manifest(out: Storage, version: str) -> dict | None:
    text = out.read_text(f"drafts/{version}/manifest.json")
    return json.loads(text) if text else None


def publish(out: Storage, rendered: Rendered, manifest: dict) -> dict:
    """Upload the formats, then the manifest, then point ``latest.json`` at them."""
    base = f"drafts/{rendered.version}/"
    for fmt, path in rendered.files.items():
        out.write_file(f"{base}utkast.{fmt}", path, draft_mime(fmt))
    out.write(f"{base}manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"),
              "application/json")
    latest = {"version": rendered.version, "created": manifest["created"], "fingerprint": manifest["fingerprint"],
              "manifest": f"{base}manifest.json", "formats": manifest["formats"]}
    out.write(LATEST, json.dumps(latest, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    return latest


def list_versions(out: Storage) -> list[str]:
    """Complete draft versions (those with a manifest), newest first."""
    versions = set()
    for entry in out.list("drafts/"):
        m = re.fullmatch(r"drafts/([^/]+)/manifest\.json", entry.key)
        if m:
            versions.add(m.group(1))
    return sorted(versions, reverse=True)


def change_links(out: Storage, from_key: str, **href_args) -> dict[str, dict]:
    """Per draft version: links to its changes since the previous draft and to other
    comparisons made with ``utkast diff`` (for the reviewers' page)."""
    links: dict[str, dict] = {}
    pattern = re.compile(rf"drafts/([^/]+)/(?:({CHANGES})|{COMPARISON}([^/]+))\.(html|docx)")
    for entry in out.list("drafts/"):
        m = pattern.fullmatch(entry.key)
        if not m:
            continue
        version, since, other, fmt = m.groups()
        name = entry.key.rsplit("/", 1)[-1]  # the Word file downloads, the page opens
        href = out.href(entry.key, from_key=from_key, filename=name if fmt == "docx" else None, **href_args)
        mine = links.setdefault(version, {"changes": {}, "comparisons": {}})
        if since:
            mine["changes"][fmt] = href
        else:
            mine["comparisons"].setdefault(other, {})[fmt] = href
    for mine in links.values():
        mine["comparisons"] = [{"from": k, **v} for k, v in sorted(mine["comparisons"].items(), reverse=True)]
    return links
