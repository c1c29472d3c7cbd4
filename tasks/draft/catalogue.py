"""The catalogue of published drafts: publish one (formats, manifest, then ``latest.json``),
list them, read the latest.
"""

from __future__ import annotations

import json
import re

from tasks.core import jsonfast
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
    return jsonfast.loads(text) if text else None


def entry_key(version: str) -> str:
    """Where what the reviewers' page shows of a draft is kept (:func:`index_entry`)."""
    return f"drafts/{version}/index-entry.json"


def index_entry(manifest: dict) -> dict:
    """What the reviewers' page shows of a draft, from its manifest: a few lines, where the
    manifest lists every report (1.3 MB at N = 1,500), so the page reads no manifest again."""
    changes = manifest.get("changes", {})
    return {"created": manifest.get("created_sv") or manifest.get("created", ""),
            "formats": manifest.get("formats", {}), "reports": len(manifest.get("reports", [])),
            "missing": manifest.get("missing", []),
            **{kind: changes.get(kind, []) for kind in ("new", "updated", "withdrawn")},
            "rejected": len(changes.get("rejected", [])), "previous": changes.get("previous"),
            "problems": manifest.get("problems", {})}


def read_entry(out: Storage, version: str, keep: bool = False) -> dict | None:
    """:func:`index_entry` of a published draft: as kept beside it, else (a draft published
    before the entries were) from its manifest, and kept there if ``keep``; None when the
    draft has no manifest."""
    text = out.read_text(entry_key(version))
    if text:
        return json.loads(text)
    manifest = read_manifest(out, version)
    if manifest is None:
        return None
    entry = index_entry(manifest)
    if keep:
        _write_entry(out, version, entry)
    return entry


def _write_entry(out: Storage, version: str, entry: dict) -> None:
    out.write(entry_key(version), json.dumps(entry, ensure_ascii=False).encode("utf-8"), "application/json")


def publish(out: Storage, rendered: Rendered, manifest: dict) -> dict:
    """Upload the formats, then the reviewers' page's entry, the manifest, and last point
    ``latest.json`` at them (a draft with a manifest is complete: :func:`list_versions`)."""
    base = f"drafts/{rendered.version}/"
    for fmt, path in rendered.files.items():
        out.write_file(f"{base}utkast.{fmt}", path, draft_mime(fmt))
    _write_entry(out, rendered.version, index_entry(manifest))
    # Compact, by orjson (tasks/core/jsonfast.py; with indent, json writes in Python, several
    # times slower for a manifest of 1,500 reports).
    out.write(f"{base}manifest.json", jsonfast.dumps(manifest), "application/json")
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
