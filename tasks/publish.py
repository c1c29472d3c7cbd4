"""Assemble and publish a draft: render docx/html/pdf, write the manifest, then
``drafts/latest.json`` last, then the reviewers' page.

Rendering happens in a private folder; nothing is written under ``drafts/<version>/``
until every format is rendered, and ``latest.json`` moves only after the whole version
is in place, so a reader never sees a half-published draft.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tasks import __version__
from tasks.changes import change_links
from tasks.config import Config
from tasks.errors import UtkastError
from tasks.intake import InboxFile
from tasks.merge import section_ast_key, selected_paket
from tasks.normalise import Report, over_length, slot_key, workers
from tasks.pandoc import one_document_rts, run_lua
from tasks.personal import masking_fingerprint
from tasks.storage import DEFAULT_LINK_SECONDS, Storage
from tasks.templating import STOCKHOLM, html_env, markdown_env, swedish_date, swedish_datetime
from tasks.versions import tool_versions

LATEST = "drafts/latest.json"
INDEX = "drafts/index.html"
MIME = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pdf": "application/pdf", "html": "text/html; charset=utf-8"}
IMAGE_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
              "svg": "image/svg+xml", "webp": "image/webp", "bmp": "image/bmp"}


@dataclass
class Rendered:
    """A rendered draft in a local folder, not yet published."""

    version: str
    created: float
    files: dict[str, Path]
    problems: dict[str, str] = field(default_factory=dict)
    docx: Path | None = None  # rendered also when not published: the text record is read from it


def templates_digest(config: Config) -> str:
    digest = hashlib.sha256()
    for path in sorted(config.templates.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def draft_fingerprint(reports: list[Report], config: Config, formats: list[str],
                      packages: list[int] | None, pending_reviews: list[str]) -> str:
    """Identity of a draft's content: a build with the same fingerprint publishes nothing new."""
    payload = {
        "reports": sorted([r.partner, r.piece, r.sha256, r.converter, r.version] for r in reports),
        "templates": templates_digest(config),
        "formats": list(formats),
        "packages": sorted(packages) if packages else None,
        "pending": sorted(pending_reviews),
        "utkast": __version__,
        "personal_data": masking_fingerprint(config),  # changed masking rules give a new draft
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def new_version(fingerprint: str, now: float) -> str:
    """Sortable and readable: ``20261127-030215-3f2a1c``."""
    return f"{datetime.fromtimestamp(now, STOCKHOLM):%Y%m%d-%H%M%S}-{fingerprint[:6]}"


def front_context(reports: list[Report], config: Config, version: str, created: float,
                  packages: list[int] | None, pending_reviews: list[str]) -> dict:
    names = {p.slug: p.short for p in config.registry.partners}
    rows, missing = [], []
    chosen = selected_paket(config, packages)
    for paket in chosen:
        for piece in paket.pieces:
            delivered = [r for r in reports if r.piece == piece.id]
            status = "mottagen" if delivered else "saknas"
            if any(over_length(r) for r in delivered):
                status += ", längre än beställt"
            if not delivered:
                missing.append(piece.id)
            rows.append({"id": piece.id, "title": piece.title, "status": status,
                         "partners": ", ".join(names[r.partner] for r in delivered) or "–"})
    return {
        "outline": config.outline, "version": version, "created": swedish_datetime(created),
        "received_count": sum(1 for row in rows if row["status"] != "saknas"), "piece_count": len(rows),
        "packages": [p.number for p in chosen] if packages else None,
        "rows": rows, "missing": missing, "pending_reviews": pending_reviews,
    }


def render_draft(out: Storage, sections: list[int], reports: list[Report], config: Config,
                 version: str, created: float, formats: list[str], workdir: Path,
                 packages: list[int] | None = None, pending_reviews: list[str] = ()) -> Rendered:
    """Render front matter + sections into ``workdir``; raise UtkastError if docx/html fail."""
    media_dir = workdir / "media"
    media_dir.mkdir(exist_ok=True)
    for name in sorted({n for r in reports for n in r.images}):
        (media_dir / name).write_bytes(out.read(f"normalised/media/{name}"))
    section_paths = []
    for number in sections:
        path = workdir / f"section-{number}.json"
        path.write_bytes(out.read(section_ast_key(number)))
        section_paths.append(str(path))
    front = workdir / "front.md"
    context = front_context(reports, config, version, created, packages, list(pending_reviews))
    front.write_text(markdown_env(config.templates).get_template("front.md.j2").render(context), encoding="utf-8")
    outputs = {"docx": workdir / "utkast.docx", "html": workdir / "utkast.html"}
    if "pdf" in formats:
        outputs["typst"] = workdir / "utkast.typ"
    spec = {
        "front": str(front), "sections": section_paths, "media_dir": str(media_dir),
        "meta": {"title": config.outline.title, "subtitle": f"{config.outline.project} – utkast {version}",
                 "date": swedish_date(created), "lang": "sv-SE", "toc-title": "Innehåll"},
        "reference_doc": str(config.templates / "reference.docx"),
        "css": (config.templates / "draft.css").read_text(encoding="utf-8"),
    }
    rts = one_document_rts(section_paths)  # a large draft's render stays under 1 GB
    # One pandoc process per format, side by side (each writer takes seconds on a big draft).
    # The docx is always rendered: the draft's text record (tasks/changes.py) is read from it.
    wanted = [k for k in outputs if k in formats or k in ("docx", "typst")]

    def run(kind: str):
        path = workdir / f"render-{kind}.json"
        path.write_text(json.dumps({**spec, "outputs": {kind: str(outputs[kind])}}), encoding="utf-8")
        return run_lua("render.lua", str(path), timeout=1800, **rts)

    with ThreadPoolExecutor(workers()) as pool:
        for done in pool.map(run, wanted):
            if done.returncode != 0:
                raise UtkastError(f"rendering the draft failed: {done.stderr.strip()[:2000]}")
    rendered = Rendered(version, created, {}, docx=outputs["docx"])
    if "docx" in formats:
        rendered.files["docx"] = outputs["docx"]
    if "html" in formats:
        inline_images(outputs["html"], media_dir)
        rendered.files["html"] = outputs["html"]
    if "pdf" in formats:
        try:
            rendered.files["pdf"] = compile_pdf(outputs["typst"], workdir)
        except Exception as exc:  # a PDF problem must not stop docx/html from publishing
            rendered.problems["pdf"] = f"PDF could not be rendered: {exc}"[:1000]
    return rendered


def inline_images(html_path: Path, media_dir: Path) -> None:
    """Make the html self-contained: our media become data: URIs (nothing else is referenced)."""
    html = html_path.read_text(encoding="utf-8")

    def data_uri(m: re.Match) -> str:
        name = m.group(1)
        path = media_dir / name
        ext = name.rsplit(".", 1)[-1]
        if not path.exists() or ext not in IMAGE_MIME:
            return 'src=""'
        return f'src="data:{IMAGE_MIME[ext]};base64,{base64.b64encode(path.read_bytes()).decode()}"'

    html = re.sub(r'src="media/([0-9a-f]{40}\.[A-Za-z0-9]+)"', data_uri, html)
    html_path.write_text(html, encoding="utf-8")


def compile_pdf(typ_path: Path, root: Path) -> Path:
    import typst

    pdf = typ_path.with_suffix(".pdf")
    data = typst.compile(str(typ_path), root=str(root), ignore_system_fonts=False)
    pdf.write_bytes(data)
    return pdf


# --- manifest and publishing ---------------------------------------------------------------


def compute_changes(previous: dict | None, reports: list[Report], files: list[InboxFile]) -> dict:
    """What is new, updated, withdrawn and rejected since the previous draft's manifest."""
    now = {slot_key(r.partner, r.piece): r for r in reports}
    before = {slot_key(r["partner"], r["piece"]): r for r in (previous or {}).get("reports", [])}
    prev_rejected = {i["key"] for i in (previous or {}).get("inputs", []) if i["verdict"] == "rejected"}
    return {
        "previous": (previous or {}).get("version"),
        "new": sorted(k for k in now if k not in before),
        "updated": sorted(k for k in now if k in before and before[k]["sha256"] != now[k].sha256),
        "withdrawn": sorted(k for k in before if k not in now),
        "rejected": sorted(f.key for f in files if f.verdict == "rejected" and f.key not in prev_rejected),
    }


def build_manifest(rendered: Rendered, fingerprint: str, files: list[InboxFile], reports: list[Report],
                   config: Config, previous: dict | None, options: dict,
                   reviews: dict[str, dict] | None = None) -> dict:
    reviews = reviews or {}
    base = f"drafts/{rendered.version}/"
    return {
        "version": rendered.version,
        "created": datetime.fromtimestamp(rendered.created, STOCKHOLM).isoformat(timespec="seconds"),
        "created_sv": swedish_datetime(rendered.created),
        "fingerprint": fingerprint,
        "title": config.outline.title,
        "project": config.outline.project,
        "formats": {fmt: f"{base}utkast.{fmt}" for fmt in rendered.files},
        "problems": rendered.problems,
        "options": options,
        "inputs": [{
            "key": f.key, "partner": f.partner, "piece": f.piece, "sha256": f.sha256, "size": f.size,
            "modified": datetime.fromtimestamp(f.modified, STOCKHOLM).isoformat(timespec="seconds"),
            "kind": f.kind, "verdict": f.verdict, "version": f.version, "reason": f.reason,
        } for f in files],
        "reports": [{
            "partner": r.partner, "piece": r.piece, "title": r.title, "words": r.words,
            "sha256": r.sha256, "source": r.source, "version": r.version,
            "earlier_versions": r.earlier_versions, "warnings": r.warnings,
            "review": reviews.get(slot_key(r.partner, r.piece)),
        } for r in sorted(reports, key=lambda r: (r.piece, r.partner))],
        "missing": [p.id for p in config.outline.pieces.values()
                    if not any(r.piece == p.id for r in reports)],
        "changes": compute_changes(previous, reports, files),
        "tools": tool_versions(),
    }


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
        out.write_file(f"{base}utkast.{fmt}", path, MIME[fmt])
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


def write_index(out: Storage, config: Config, link_seconds: int | None = None) -> str:
    """Regenerate ``drafts/index.html``, the reviewers' page (fresh links every build)."""
    names = {p.slug: p.short for p in config.registry.partners}
    drafts = []
    compared = change_links(out, INDEX, **({"expires": link_seconds} if link_seconds else {}))
    for version in list_versions(out):
        manifest = read_manifest(out, version)
        if not manifest:
            continue
        kwargs = {"expires": link_seconds} if link_seconds else {}
        links = {fmt: out.href(key, from_key=INDEX, filename=f"utkast-{version}.{fmt}", **kwargs)
                 for fmt, key in manifest["formats"].items()}
        changes = manifest.get("changes", {})

        def label(slot: str) -> str:
            partner, piece = slot.split("/", 1)
            return f"{piece} ({names.get(partner, partner)})"

        drafts.append({
            "version": version, "created": manifest.get("created_sv", manifest["created"]),
            "links": links, "reports": len(manifest["reports"]), "missing": manifest["missing"],
            "new": [label(s) for s in changes.get("new", [])],
            "updated": [label(s) for s in changes.get("updated", [])],
            "withdrawn": [label(s) for s in changes.get("withdrawn", [])],
            "rejected": len(changes.get("rejected", [])),
            "previous": changes.get("previous"),
            "problems": manifest.get("problems", {}),
            "compared": compared.get(version, {"changes": {}, "comparisons": []}),
        })
    now = time.time()
    links_until = swedish_datetime(now + (link_seconds or DEFAULT_LINK_SECONDS)) if out.links_expire else None
    html = html_env(config.templates).get_template("index.html.j2").render(
        outline=config.outline, drafts=drafts, generated=swedish_datetime(now),
        pieces_total=len(config.outline.pieces), links_until=links_until)
    out.write(INDEX, html.encode("utf-8"), "text/html; charset=utf-8")
    return INDEX


def ensure_formats(formats: list[str]) -> list[str]:
    unknown = [f for f in formats if f not in MIME]
    if unknown:
        raise UtkastError(f"unknown format(s) {unknown}; choose from docx, pdf, html")
    if not formats:
        raise UtkastError("no output format chosen")
    return formats
