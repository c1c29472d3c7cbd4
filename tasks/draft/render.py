"""Render the draft: front matter and sections to docx, html and pdf in a private folder.

Nothing is written under ``drafts/<version>/`` here; :mod:`tasks.draft.catalogue` publishes.
"""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.config import Config
from tasks.core.errors import UtkastError
from tasks.core.pandoc import one_document_rts, run_lua
from tasks.core.parallel import workers
from tasks.core.templating import markdown_env, swedish_date, swedish_datetime
from tasks.draft.merge import section_ast_key, selected_paket
from tasks.intake.normalise import Report, over_length
from tasks.storage.base import Storage

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
    # The docx is always rendered: the draft's text record (tasks/roundtrip/changes.py) is read from it.
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


def ensure_formats(formats: list[str]) -> list[str]:
    unknown = [f for f in formats if f not in MIME]
    if unknown:
        raise UtkastError(f"unknown format(s) {unknown}; choose from docx, pdf, html")
    if not formats:
        raise UtkastError("no output format chosen")
    return formats
