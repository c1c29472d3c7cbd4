"""The personal-data scan of a run's reports, and what the coordinator may see of it
(kinds, counts and places, never values).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

from tasks.core import jsonfast
from tasks.core.parallel import process_pool, workers
from tasks.personal.detect import Detector
from tasks.personal.filenames import mask_key
from tasks.personal.mask import Finding, scan_ast
from tasks.personal.rules import PersonalRules

# --- what the coordinator may see ---------------------------------------------------------------------


def summarise(findings: list[Finding], rules: PersonalRules) -> dict:
    """Kinds, counts and places: nothing of the values (for tracker, manifest, artifacts, state).

    ``by_kind`` counts per kind; ``phrase`` says it in Swedish (``7 namn, 2 adresser``, most
    first); ``places`` lists where (``fotnot 1: namn, personnummer``), in document order."""
    by_kind: dict[str, int] = {}
    places: dict[str, list[str]] = {}
    for f in findings:
        by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
        labels = places.setdefault(f.place, [])
        if rules.label(f.kind) not in labels:
            labels.append(rules.label(f.kind))
    ordered = sorted(by_kind.items(), key=lambda kv: (-kv[1], rules.label(kv[0])))
    return {"total": len(findings),
            "by_kind": {rules.label(kind): n for kind, n in ordered},
            "phrase": ", ".join(f"{n} {rules.label(kind) if n == 1 else rules.plurals.get(kind, kind)}"
                                for kind, n in ordered),
            "places": [f"{place}: {', '.join(labels)}" for place, labels in places.items()]}


def counts_phrase(summary: dict) -> str:
    """``7 namn, 2 adresser`` (Swedish)."""
    return summary.get("phrase", "")


@dataclass
class PersonalScan:
    """The personal data of the reports in a run: summaries per slot and masked titles."""

    summaries: dict[str, dict] = field(default_factory=dict)  # slot -> summarise(); only those with findings
    titles: dict[str, str] = field(default_factory=dict)  # slot -> the title as the draft shows it
    masked: dict[str, str] = field(default_factory=dict)  # slot -> its masked AST (the AST itself if clean)
    sources: dict[str, str] = field(default_factory=dict)  # inbox key of a report (and its earlier
    # versions) -> the key as shown outside the partner's folder, masked with the report's names too


def masked_ast_key(report, rules: PersonalRules) -> str:
    """Where :func:`scan_reports` keeps a report's AST with its personal data masked, keyed
    by content, converter, rules and the title as the draft shows it (names found in the
    title are masked in the text too), so merging need not scan it again."""
    digest = hashlib.sha256(json.dumps([report.sha256, report.converter, rules.fingerprint, report.title])
                            .encode()).hexdigest()
    return f"cache/masked/{digest[:32]}.json"


# From this many reports to scan, the scan runs in worker processes (one per core): it is
# pure Python, about 4 ms a report; below it, starting the workers (each imports the
# detectors' libraries) costs more than it saves.
PARALLEL_SCAN_FROM = 400


def scan_key(report, rules: PersonalRules) -> str:
    """What a report's scan depends on: its content, converter, title and file names, and the rules."""
    return hashlib.sha256(json.dumps([report.sha256, report.converter, report.title, report_keys(report),
                                      rules.fingerprint]).encode()).hexdigest()[:24]


def scan_report(out, report, rules: PersonalRules, ast_json: str | bytes) -> tuple[dict, str, dict]:
    """Scan one report as soon as it is converted (``ast_json``: its AST) and keep its masked
    AST. Returns what :func:`scan_reports` keeps for it (hand it over as ``early``), where its
    masked AST is, and the masked AST itself (pandoc JSON, parsed)."""
    ast = jsonfast.loads(ast_json)
    findings, title, sources = _scan_parsed(ast, report.title, report_keys(report), rules)
    summary = summarise(findings, rules)
    masked_key = report.ast_key
    if summary["total"]:
        masked_key = masked_ast_key(replace(report, title=title), rules)
        out.write(masked_key, json.dumps(ast, ensure_ascii=False).encode("utf-8"), "application/json")
    return {"key": scan_key(report, rules), "summary": summary, "title": title, "sources": sources}, masked_key, ast


def scan_reports(out, reports: dict, rules: PersonalRules, saved: dict[str, dict],
                 early: dict[str, dict] | None = None) -> PersonalScan:
    """Scan each report's AST (``cache/ast``) once per (content, rules) and keep the masked
    AST (:func:`masked_ast_key`); results are kept in ``saved`` (the run state's personal
    section: summaries only, never values). ``early``: reports this run scanned already
    (:func:`scan_report`), by slot."""
    scan = PersonalScan()
    keys = {slot: scan_key(report, rules) for slot, report in reports.items()}
    for slot, record in (early or {}).items():
        if slot in keys and record["key"] == keys[slot]:
            saved[slot] = record
    todo = [slot for slot in sorted(reports) if saved.get(slot, {}).get("key") != keys[slot]]

    def store(slot: str, summary: dict, title: str, masked: bytes, sources: dict[str, str]) -> None:
        if summary["total"]:  # a report without personal data is its own masked version
            out.write(masked_ast_key(replace(reports[slot], title=title), rules), masked, "application/json")
        saved[slot] = {"key": keys[slot], "summary": summary, "title": title, "sources": sources}

    if len(todo) >= PARALLEL_SCAN_FROM and workers() > 1:
        with process_pool(workers(), _scan_worker_init, (rules,)) as pool:
            for i in range(0, len(todo), 128):  # a window at a time: ASTs are not all held at once
                window = todo[i:i + 128]
                jobs = [(out.read(reports[s].ast_key), reports[s].title, report_keys(reports[s])) for s in window]
                for slot, done in zip(window, pool.map(_scan_worker, jobs, chunksize=8)):
                    store(slot, *done)
    else:
        for slot in todo:
            store(slot, *_scan_one(out.read(reports[slot].ast_key), reports[slot].title, report_keys(reports[slot]),
                                   rules))
    for slot in sorted(reports):
        if saved[slot]["summary"]["total"]:
            scan.summaries[slot] = saved[slot]["summary"]
            scan.masked[slot] = masked_ast_key(replace(reports[slot], title=saved[slot]["title"]), rules)
        else:
            scan.masked[slot] = reports[slot].ast_key
        scan.titles[slot] = saved[slot]["title"]
        scan.sources.update(saved[slot]["sources"])
    for slot in [s for s in saved if s not in reports]:
        del saved[slot]
    return scan


def report_keys(report) -> list[str]:
    """The inbox keys of a report: its file and the earlier versions it supersedes."""
    return [report.source, *report.earlier_versions]


def _scan_one(ast_bytes: bytes, title: str, keys: list[str],
              rules: PersonalRules) -> tuple[dict, str, bytes, dict[str, str]]:
    """One report: its findings' summary, its title as the draft shows it, its masked AST
    (the AST as it came when nothing was found), and its file names as shown to others (masked
    with the names found in its text too)."""
    ast = jsonfast.loads(ast_bytes)
    findings, title, sources = _scan_parsed(ast, title, keys, rules)
    masked = json.dumps(ast, ensure_ascii=False).encode("utf-8") if findings else ast_bytes
    return summarise(findings, rules), title, masked, sources


def _scan_parsed(ast: dict, title: str, keys: list[str], rules: PersonalRules) -> tuple[list[Finding], str, dict]:
    """Findings in a parsed AST (masked in place), the masked title, and the file names as shown."""
    findings, title = scan_ast(ast, rules, title, mask=True)
    detector = Detector.for_rules(rules, {f.value for f in findings if f.kind == "namn"})
    return findings, title, {key: mask_key(key, rules, detector) for key in keys}


_worker_rules: PersonalRules | None = None


def _scan_worker_init(rules: PersonalRules) -> None:
    global _worker_rules
    _worker_rules = rules


def _scan_worker(job: tuple[bytes, str, list[str]]) -> tuple[dict, str, bytes, dict[str, str]]:
    return _scan_one(*job, _worker_rules)


def with_masked_titles(reports: dict, scan: PersonalScan) -> dict:
    """The reports as the rest of the run sees them: titles masked, and where the text with
    personal data masked is (the saved state and ``normalised/`` keep what the partner wrote)."""
    return {slot: replace(r, title=scan.titles.get(slot, r.title), masked_key=scan.masked.get(slot))
            for slot, r in reports.items()}
