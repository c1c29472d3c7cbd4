"""Normalise accepted reports into canonical Markdown with pandoc.

Many files are converted per pandoc process (``lua/normalise.lua``) and the batches run
side by side, one per core; a file that takes too long or too much memory stops its batch,
is tried once more alone, and the files after it go on, so a hostile file only takes itself
down. Output per report: ``normalised/<partner>/<piece>.md``
and ``.json``; images once each under ``normalised/media/<sha1>.<ext>``.

Each file's conversion is kept as soon as pandoc has finished it (:func:`keep_conversion`:
``cache/converted/<sha256>.json`` and its AST, by content and converter), so a run that is
killed, or fails later, leaves every finished conversion for the next run
(:func:`convert_and_keep`): nothing is converted twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from tasks import __version__
from tasks.core.config import Config
from tasks.core.errors import ChangedDuringRun, ConversionFailed, NoText, Rejected
from tasks.core.formats import ACCEPTED, BY_KIND
from tasks.core.pandoc import lua_command, pandoc_version, script_digest
from tasks.core.parallel import interleaved, workers
from tasks.core.slots import Slot, slot_key
from tasks.intake.inbox import InboxFile
from tasks.intake.screening import NAME_PIECE, SAFE_XML, decode_text, strip_front_matter
from tasks.storage.base import Storage, UnsafeKey, read_present, scratch_dir, write_all
from tasks.storage.state import ConversionMemory

# Heading levels in the draft: 1 paket, 2 piece, 3 the partner's contribution, 4+ the report.
REPORT_TOP_LEVEL = 4


@dataclass
class Report:
    """An accepted, normalised partner report: what merge and publish need to know."""

    partner: str
    piece: str
    source: str  # key in the inbox
    sha256: str
    kind: str
    title: str
    words: int
    version: int
    received: float
    converter: str
    md_key: str
    ast_key: str  # the same text as a pandoc AST (JSON), keyed by content hash
    images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    earlier_versions: list[str] = field(default_factory=list)
    # Accessibility (docs/accessibility.md): the images in the draft without a description,
    # {n, of, where, near} (the n-th of `of` images; the text `near` it: the paragraph it is
    # "in", the one it comes "after", or "before"), and the headings that skipped a level in
    # the partner's document, {text, level, previous} (the draft's levels never skip).
    missing_alt: list[dict] = field(default_factory=list)
    heading_skips: list[dict] = field(default_factory=list)
    # Its AST with personal data masked, as this run's scan left it (the AST itself when
    # nothing was found); None before the scan (tasks.personal.scan.with_masked_titles).
    masked_key: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def report_base(partner: str, piece: str) -> str:
    return f"normalised/{partner}/{piece}"


def converter_fingerprint() -> str:
    """Normalised text is reused only while pandoc, the script, the readers and utkast are unchanged."""
    readers = hashlib.sha256(repr([(row.kind, row.reader) for row in ACCEPTED]).encode()).hexdigest()[:8]
    return f"pandoc-{pandoc_version()}+{script_digest('normalise.lua')}+{readers}+utkast-{__version__}"


@dataclass
class Converted:
    markdown: str
    ast: str | None  # None when kept (:func:`keep_conversion`): it is in the outputs already
    title: str
    words: int
    warnings: list[str]
    images: dict[str, bytes]  # name -> bytes; empty bytes when kept
    missing_alt: list[dict] = field(default_factory=list)
    heading_skips: list[dict] = field(default_factory=list)
    kept: bool = False  # its AST and images are in the outputs already


Outcome = Converted | Rejected
OnResult = Callable[[str, Outcome], None]


def convert_files(inbox: Storage, files: list[InboxFile], config: Config,
                  parallel: int | None = None,
                  on_progress: Callable[[int, int], None] | None = None,
                  on_result: OnResult | None = None) -> dict[str, Outcome]:
    """Convert ``files`` (keyed by inbox key in the result); never raises for a bad file.

    ``on_progress(done, total)`` is called now and then while pandoc works, with the number
    of files finished so far (for progress bars; it must be quick and must not raise).
    ``on_result(key, outcome)`` is called with each file's outcome as soon as it is known
    (from the batch's thread, while pandoc goes on with the next files); what it raises
    stops the conversion.
    """
    if not files:
        return {}
    limits = config.settings.limits
    results: dict[str, Converted | Rejected] = {}
    with scratch_dir("utkast-convert-") as tmp:
        tmp = Path(tmp)
        media_dir = tmp / "media"
        media_dir.mkdir()
        jobs = []
        for i, f in enumerate(files):
            try:
                data = inbox.read(f.key)
            except (FileNotFoundError, UnsafeKey):
                data = None
            if data is None or hashlib.sha256(data).hexdigest() != f.sha256:
                # Only screened bytes are converted; a newer file is screened next run.
                results[f.key] = ChangedDuringRun("changed or removed after screening")
                if on_result:
                    on_result(f.key, results[f.key])
                continue
            if BY_KIND[f.kind].content != "zip":  # text: decoded once, handed to pandoc as UTF-8
                text = decode_text(data)[0]
                data = (strip_front_matter(text) if f.kind == "md" else text).encode("utf-8")
            src = tmp / f"in-{i}"
            src.write_bytes(data)
            jobs.append({"id": f.key, "input": str(src), "format": f.kind, "reader": BY_KIND[f.kind].reader,
                         "shift_to": REPORT_TOP_LEVEL,
                         "out": str(tmp / f"out-{i}.md"), "ast": str(tmp / f"ast-{i}.json"),
                         "media_dir": str(media_dir),
                         "result": str(tmp / f"result-{i}.json")}
                        | ({"alts": odt_image_alts(data)} if f.kind == "odt" else {}))
        if not jobs:
            return results
        batches = interleaved(jobs, parallel or workers())
        n = len(batches)
        tick = _ProgressCounter(jobs, on_progress) if on_progress else None

        def collect(job: dict) -> None:
            results[job["id"]] = _collect(job, media_dir)
            for name in ("input", "out", "ast", "result"):  # gone while still only in memory: cheaper
                Path(job[name]).unlink(missing_ok=True)
            if on_result:
                on_result(job["id"], results[job["id"]])

        run = lambda batch: _run_batch(batch, tmp, limits.convert_timeout, limits.convert_memory_mb,  # noqa: E731
                                       tick, collect)
        with ThreadPoolExecutor(n) as pool:
            timed_out = {job["id"] for job in pool.map(run, batches) if job}
        # A batch that stopped early stopped on its first file without a result. A file that
        # ran out of time is done; one whose process died is tried once more alone (so only
        # it can fail). The files after it go on as a batch.
        missing = [j for j in jobs if j["id"] not in results]
        while missing:
            first, rest = missing[0], missing[1:]
            if first["id"] not in timed_out:
                run([first])
            if first["id"] not in results:
                collect(first)  # no result: pandoc stopped on it
            if rest:
                stuck = run(rest)
                if stuck:
                    timed_out.add(stuck["id"])
            missing = [j for j in rest if j["id"] not in results]
        if on_progress:
            on_progress(len(jobs), len(jobs))
    return results


PROGRESS_SECONDS = 0.5  # how often a running batch reports finished files


class _ProgressCounter:
    """Counts the result files pandoc has written so far and reports changes."""

    def __init__(self, jobs: list[dict], report: Callable[[int, int], None]):
        self.jobs, self.report, self.done = jobs, report, 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            done = sum(Path(j["result"]).exists() for j in self.jobs)
            if done != self.done:
                self.done = done
                self.report(done, len(self.jobs))


def _run_batch(batch: list[dict], tmp: Path, timeout: float, memory_mb: int,
               tick: Callable[[], None] | None = None,
               collect: Callable[[dict], None] | None = None) -> dict | None:
    """One pandoc process over ``batch``, stopped when a single file takes over ``timeout``
    seconds (results appear one by one, in order, and each is handed to ``collect`` as it
    appears); returns that file's job, else None."""
    spec = tmp / f"jobs-{hashlib.sha1(batch[0]['id'].encode()).hexdigest()[:8]}-{len(batch)}.json"
    spec.write_text(json.dumps(batch), encoding="utf-8")
    proc = subprocess.Popen(lua_command("normalise.lua", str(spec), memory_mb=memory_mb),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done, since, reported = 0, time.monotonic(), time.monotonic()
    try:
        while True:
            finished = proc.poll() is not None
            progressed = False
            while done < len(batch) and Path(batch[done]["result"]).exists():
                if collect:
                    collect(batch[done])
                done, progressed = done + 1, True
            if finished:
                return None
            now = time.monotonic()
            if progressed:
                since = now
            elif now - since > timeout:  # a file that takes too long is rejected, not waited for
                return batch[done]
            if tick and now - reported >= PROGRESS_SECONDS:
                tick()
                reported = now
            if not progressed:
                try:
                    proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _collect(job: dict, media_dir: Path) -> Converted | Rejected:
    result_path = Path(job["result"])
    if not result_path.exists():
        return ConversionFailed("pandoc stopped (time or memory limit) on this file")
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return ConversionFailed("pandoc left an unreadable result")
    if not result.get("ok"):
        return ConversionFailed(str(result.get("error", "unknown error"))[:500])
    if result.get("words", 0) == 0:
        return NoText("no words after conversion")
    markdown = Path(job["out"]).read_text(encoding="utf-8")
    ast = Path(job["ast"]).read_text(encoding="utf-8")
    images = {name: (media_dir / name).read_bytes() for name in result.get("images", [])}
    return Converted(markdown, ast, result.get("title", "").strip(), result["words"],
                     list(result.get("warnings", [])), images,
                     _entries(result.get("missing_alt")), _entries(result.get("heading_skips")))


def _entries(value) -> list[dict]:
    """A list of objects from pandoc's JSON (an empty Lua table comes as an object)."""
    return [dict(v) for v in value if isinstance(v, dict)] if isinstance(value, list) else []


ODF_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
ODF_SVG = "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
ODF_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"


def odt_image_alts(data: bytes) -> list[str]:
    """The description of every image in an OpenDocument text, in document order (pandoc's
    reader drops them): the frame's text alternative (``svg:title``), else its description
    (``svg:desc``), else "". An unreadable file gives [] (pandoc then reports it)."""
    import io
    import zipfile

    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            root = etree.fromstring(archive.read("content.xml"), SAFE_XML)
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError, ValueError):
        return []
    alts = []
    for body in root.iter(f"{{{ODF_OFFICE}}}body"):
        for image in body.iter(f"{{{ODF_DRAW}}}image"):
            frame = image.getparent()
            texts = [(frame.findtext(f"{{{ODF_SVG}}}{tag}") or "").strip() for tag in ("title", "desc")]
            alts.append(" ".join((texts[0] or texts[1]).split()))
    return alts


# --- each file's conversion, kept as soon as it is done -------------------------------------------

KEPT = "cache/converted"


def kept_key(sha256: str) -> str:
    """Where the conversion of these bytes is kept (with the converter it was made by)."""
    return f"{KEPT}/{sha256}.json"


def ast_key(sha256: str) -> str:
    return f"cache/ast/{sha256}.json"


def keep_conversion(out: Storage, f: InboxFile, outcome: Outcome) -> None:
    """Keep one file's conversion: its AST and new images first, then the record that says it
    is done (title, words, warnings, images, the Markdown; or why pandoc failed). A file that
    changed while it was read is not kept: that was not its bytes' doing."""
    if isinstance(outcome, ChangedDuringRun) or (isinstance(outcome, Converted) and outcome.kept):
        return
    record: dict = {"converter": converter_fingerprint()}
    if isinstance(outcome, Rejected):
        record.update(ok=False, code=outcome.code, detail=outcome.detail)
    else:
        writes = [(f"normalised/media/{name}", data, None) for name, data in outcome.images.items()
                  if not out.exists(f"normalised/media/{name}")]
        write_all(out, writes + [(ast_key(f.sha256), outcome.ast.encode("utf-8"), "application/json")])
        record.update(ok=True, title=outcome.title, words=outcome.words, warnings=outcome.warnings,
                      images=sorted(outcome.images), markdown=outcome.markdown, missing_alt=outcome.missing_alt,
                      heading_skips=outcome.heading_skips)
    out.write(kept_key(f.sha256), json.dumps(record, ensure_ascii=False).encode("utf-8"), "application/json")


def kept_conversions(out: Storage, files: list[InboxFile]) -> dict[str, Outcome]:
    """The kept conversions of ``files`` made by this converter (by inbox key); files whose
    bytes no kept conversion has are left out."""
    converter = converter_fingerprint()
    found: dict[str, Outcome] = {}
    for f, data in zip(files, read_present(out, [kept_key(f.sha256) for f in files])):
        try:
            record = json.loads(data) if data else None
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("converter") != converter:
            continue
        if record.get("ok"):
            found[f.key] = Converted(record["markdown"], None, record["title"], record["words"],
                                     list(record["warnings"]), {name: b"" for name in record["images"]},
                                     _entries(record.get("missing_alt")), _entries(record.get("heading_skips")),
                                     kept=True)
        else:
            found[f.key] = Rejected.from_saved(record["code"], record["detail"], {})
    return found


def convert_and_keep(inbox: Storage, out: Storage, files: list[InboxFile], config: Config,
                     parallel: int | None = None, on_progress: Callable[[int, int], None] | None = None,
                     on_result: OnResult | None = None) -> tuple[dict[str, Outcome], set[str]]:
    """:func:`convert_files` for the files no earlier run has converted, each kept as soon as
    it is done (:func:`keep_conversion`), then handed to ``on_result``; the others as kept.
    Returns the outcomes (by inbox key) and the keys of those kept from before."""
    results = kept_conversions(out, files)
    by_key = {f.key: f for f in files}

    def done(key: str, outcome: Outcome) -> None:
        keep_conversion(out, by_key[key], outcome)
        if on_result:
            on_result(key, outcome)
        if isinstance(outcome, Converted):  # kept: its AST and images need not stay in memory
            outcome.ast, outcome.images, outcome.kept = None, dict.fromkeys(outcome.images, b""), True

    reused = set(results)
    results.update(convert_files(inbox, [f for f in files if f.key not in results], config, parallel, on_progress,
                                 done))
    return results, reused


def fallback_title(f: InboxFile, config: Config) -> str:
    """A title from the file name without the piece number, else the commissioned title."""
    stem = f.name.rsplit(".", 1)[0]
    m = NAME_PIECE.match(stem)
    if m:
        stem = stem[m.end():]
    stem = re.sub(r"[_]+", " ", stem).strip(" -_.")
    return stem or config.outline.pieces[f.piece].title


def store_report(out: Storage, f: InboxFile, conv: Converted, config: Config,
                 known_media: set[str], earlier: list[str],
                 writes: list[tuple[str, bytes, str | None]] | None = None) -> Report:
    """Write the normalised Markdown, its metadata and new images; return the report.
    With ``writes``, the writes are added to it instead (for :func:`write_all`)."""
    pending = [] if writes is None else writes
    for name, data in conv.images.items():
        if name not in known_media and not conv.kept:
            pending.append((f"normalised/media/{name}", data, None))
        known_media.add(name)
    report = make_report(f, conv, config, earlier)
    if not conv.kept:
        pending.append((report.ast_key, conv.ast.encode("utf-8"), "application/json"))
    pending += [(report.md_key, conv.markdown.encode("utf-8"), "text/markdown; charset=utf-8"),
                (f"{report_base(f.partner, f.piece)}.json",
                 json.dumps(report.to_json(), ensure_ascii=False, indent=2).encode("utf-8"), "application/json")]
    if writes is None:
        write_all(out, pending)
    return report


def make_report(f: InboxFile, conv: Converted, config: Config, earlier: list[str]) -> Report:
    """The report a converted file makes (nothing written)."""
    limits = config.settings.limits
    warnings = list(conv.warnings)
    pages = conv.words / limits.words_per_page
    if pages > limits.max_pages:
        warnings.append(f"over_length:{pages:.1f}")
    base = report_base(f.partner, f.piece)
    return Report(
        partner=f.partner, piece=f.piece, source=f.key, sha256=f.sha256, kind=f.kind,
        title=conv.title or f.title_hint or fallback_title(f, config), words=conv.words,
        version=f.version, received=f.modified, converter=converter_fingerprint(),
        md_key=f"{base}.md", ast_key=ast_key(f.sha256), images=sorted(conv.images), warnings=warnings,
        comments=f.comments, earlier_versions=earlier, missing_alt=conv.missing_alt, heading_skips=conv.heading_skips,
    )


def _record(out: Storage, writes: list, stored: list[tuple[InboxFile, Report]], saved: dict,
            reports: dict[str, Report]) -> None:
    """Write the stored reports' files side by side, then remember the reports (the state
    trusts them only once their files are all written); empties both lists."""
    write_all(out, writes)
    for f, report in stored:
        saved[slot_key(*f.slot)] = report.to_json()
        reports[slot_key(*f.slot)] = report
    writes.clear()
    stored.clear()


def over_length(report: Report) -> float | None:
    """Estimated pages when the report is longer than commissioned, else None."""
    for w in report.warnings:
        if w.startswith("over_length:"):
            return float(w.split(":", 1)[1])
    return None


def accessibility_summary(report: Report) -> dict | None:
    """What the tracker, the partner's page and the manifest carry of a report's accessibility:
    which of its images have no description (their numbers, never the text near them) and
    how many headings skipped a level; None when nothing is missing."""
    if not report.missing_alt and not report.heading_skips:
        return None
    return {"images_without_alt": [{"n": i["n"], "of": i["of"]} for i in report.missing_alt],
            "heading_skips": len(report.heading_skips)}


# --- deciding what to convert, and recording the outcome ---------------------------------


def plan_conversions(files: list[InboxFile], memory: ConversionMemory) -> tuple[list[InboxFile], dict[str, Report]]:
    """Split the newest accepted files into those to convert and up-to-date reports.

    A report is up to date when the saved one came from the same bytes through the same
    converter. A file whose bytes failed before with this converter fails again without work.
    """
    converter = converter_fingerprint()
    saved = memory.reports
    earlier = earlier_versions(files)
    todo, ready = [], {}
    for f in files:
        if f.verdict != "accepted":
            continue
        prior = saved.get(slot_key(*f.slot))
        if prior and prior["sha256"] == f.sha256 and prior["converter"] == converter:
            report = Report(**prior)
            report.version, report.source, report.received = f.version, f.key, f.modified
            report.earlier_versions = earlier.get(slot_key(*f.slot), [])
            ready[slot_key(*f.slot)] = report
        else:
            todo.append(f)
    return todo, ready


def earlier_versions(files: list[InboxFile]) -> dict[str, list[str]]:
    """Superseded files per slot, oldest first (listed in the manifest, not merged)."""
    found: dict[str, list[InboxFile]] = {}
    for f in files:
        if f.verdict == "superseded":
            found.setdefault(slot_key(*f.slot), []).append(f)
    return {k: [g.key for g in sorted(v, key=lambda g: g.version)] for k, v in found.items()}


def pending_conversions(todo: list[InboxFile], memory: ConversionMemory) -> list[InboxFile]:
    """Those of ``todo`` that really need pandoc (not known failures)."""
    converter = converter_fingerprint()
    failed = memory.failed
    return [f for f in todo if failed.get(f.sha256, {}).get("converter") != converter]


def apply_conversions(out: Storage, files: list[InboxFile], todo: list[InboxFile],
                      results: dict[str, Converted | Rejected], memory: ConversionMemory, config: Config,
                      reports: dict[str, Report], *, checkpoint: Callable[[], object]) -> list[InboxFile]:
    """Store converted reports; reject files that failed and return the next-newest
    version of their piece to try instead (an empty list when there is nothing left).

    ``memory`` is the run state's conversions section; ``checkpoint`` saves the whole state:
    it is called once reports about to be overwritten have been forgotten, so a run killed
    while writing them leaves them unknown rather than trusted half-written."""
    converter = converter_fingerprint()
    saved, failed = memory.reports, memory.failed
    media = set(memory.media)
    earlier = earlier_versions(files)
    retry = []
    # Reports about to be overwritten are forgotten in the saved state first: a run killed
    # while writing them leaves them unknown (converted again), never trusted half-done.
    if any(saved.pop(slot_key(*f.slot), None) for f in todo if f.key in results):
        checkpoint()
    writes: list[tuple[str, bytes, str | None]] = []
    stored: list[tuple[InboxFile, Report]] = []
    for f in todo:
        outcome = results.get(f.key)
        if outcome is None:  # a known failure, not converted again
            known = failed[f.sha256]
            outcome = Rejected.from_saved(known["code"], known["detail"], {})
        if isinstance(outcome, Rejected):
            if not isinstance(outcome, ChangedDuringRun):  # that one is not the bytes' fault
                failed[f.sha256] = {"converter": converter, "code": outcome.code, "detail": outcome.detail}
            f.reject(outcome, config)
            older = [g for g in files if g.slot == f.slot and g.verdict == "superseded"]
            if older:
                fallback = max(older, key=lambda g: g.version)
                fallback.verdict = "accepted"
                retry.append(fallback)
            continue
        stored.append((f, store_report(out, f, outcome, config, media, earlier.get(slot_key(*f.slot), []), writes)))
        if len(stored) >= 64:
            _record(out, writes, stored, saved, reports)
    _record(out, writes, stored, saved, reports)
    memory.media = sorted(media)
    # Forget reports whose file is gone from the inbox (withdrawn).
    live = {slot_key(*f.slot) for f in files if f.verdict == "accepted"}
    for key in list(saved):
        if key not in live:
            base = report_base(*Slot.parse(key))
            out.delete(f"{base}.json")  # metadata first: a half-removed report is never trusted
            out.delete(f"{base}.md")
            del saved[key]
    for key in list(reports):
        if key not in live:
            del reports[key]
    return retry
