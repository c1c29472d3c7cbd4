#!/usr/bin/env python3
"""Fuzz the intake: seeded mutations of real .docx/.odt files through screening and pandoc.

    .venv/bin/python scripts/fuzz_intake.py --seed 1 --count 500
    .venv/bin/python scripts/fuzz_intake.py --seed 7 --count 20000 --keep /tmp/fuzz   # a long run

Each run writes ``count`` mutated copies of the corpus documents (``../shared/corpus`` or
``--corpus``) into one local inbox (spread over partners and pieces), then runs the plain
steps: ``scan_inbox`` (screening) and ``convert_files`` (pandoc, batched per core) on every
file that passed screening. Every file must end with a verdict (accepted, superseded or
rejected with a Swedish reason); any exception that escapes a step is counted, and the
command exits 1 if there was one (or a file without a verdict), else 0. The same seed and
count give the same files. With ``--keep`` the inbox stays for a look at the files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.core.config import load_config  # noqa: E402
from tasks.core.errors import Rejected  # noqa: E402
from tasks.intake.inbox import UNEXPECTED, scan_inbox, screen_entry  # noqa: E402
from tasks.intake.normalise import convert_files  # noqa: E402
from tasks.intake.reasons import explain  # noqa: E402
from tasks.storage.local import LocalStorage  # noqa: E402
from tasks.storage.state import ScreeningMemory  # noqa: E402
from tests.hostile import mutate  # noqa: E402

DEFAULT_CORPUS = Path(os.environ.get("UTKAST_CORPUS", ROOT.parent / "shared" / "corpus"))
GENERIC_REASON = explain(Rejected("x"))


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.suffix in (".docx", ".odt") and p.is_file())


def write_mutants(sources: list[Path], inbox: Path, seed: int, count: int, config) -> dict[str, str]:
    """Write ``count`` mutated files; returns key -> mutation name."""
    rng = random.Random(seed)
    partners = [p.slug for p in config.registry.partners]
    pieces = list(config.outline.pieces)
    originals = {p: p.read_bytes() for p in sources}
    written = {}
    for i in range(count):
        src = sources[rng.randrange(len(sources))]
        kind, data = mutate(originals[src], rng)
        key = f"{partners[i % len(partners)]}/{pieces[(i // len(partners)) % len(pieces)]} f{i:05d}-{kind}-{src.stem[:40]}{src.suffix}"
        path = inbox / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written[key] = kind
    return written


def fuzz(seed: int, count: int, corpus: Path, workdir: Path, parallel: int | None = None) -> dict:
    """Run one fuzz round in ``workdir``; returns the summary (see the module docstring)."""
    config = load_config()
    sources = corpus_files(corpus)
    if not sources:
        raise SystemExit(f"no .docx/.odt files under {corpus}")
    inbox = workdir / "inbox"
    mutants = write_mutants(sources, inbox, seed, count, config)
    storage = LocalStorage(inbox)
    escaped: list[str] = []

    try:
        files = scan_inbox(storage, config, ScreeningMemory())
    except Exception:  # find the file(s) responsible, one by one
        escaped.append(traceback.format_exc())
        files, known = [], {}
        for entry in storage.list():
            try:
                files.append(screen_entry(storage, entry, config, known))
            except Exception:
                escaped.append(f"{entry.key}: {traceback.format_exc()}")

    passed = [f for f in files if f.verdict in ("accepted", "superseded")]
    try:
        results = convert_files(storage, passed, config, parallel=parallel)
    except Exception:
        escaped.append(traceback.format_exc())
        results = {}
        for f in passed:
            try:
                results.update(convert_files(storage, [f], config, parallel=1))
            except Exception:
                escaped.append(f"{f.key}: {traceback.format_exc()}")

    verdicts: dict[str, tuple[str, str | None, str | None]] = {}
    for f in files:
        if (f.detail or "").startswith(UNEXPECTED):  # caught only by the last-resort handler
            escaped.append(f"{f.key}: {f.detail}")
        if f.verdict == "rejected":
            verdicts[f.key] = ("rejected", f.reason_code, f.reason)
            continue
        outcome = results.get(f.key)
        if isinstance(outcome, Rejected):
            verdicts[f.key] = ("rejected", outcome.code, explain(outcome))
        elif outcome is not None:
            verdicts[f.key] = (f.verdict, None, None)
    problems = []
    for key in mutants:
        verdict = verdicts.get(key)
        if verdict is None:
            problems.append(f"{key}: no verdict")
        elif verdict[0] == "rejected" and (not verdict[2] or verdict[2] == GENERIC_REASON):
            problems.append(f"{key}: rejected without a specific reason ({verdict[1]})")
    return {
        "seed": seed, "count": count, "sources": len(sources),
        "mutations": dict(sorted(Counter(mutants.values()).items())),
        "verdicts": dict(sorted(Counter(v[0] for v in verdicts.values()).items())),
        "reasons": dict(sorted(Counter(v[1] for v in verdicts.values() if v[1]).items())),
        "escaped": len(escaped), "escaped_details": escaped,
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--parallel", type=int, default=None, help="pandoc processes side by side (default: cores)")
    p.add_argument("--keep", type=Path, help="write the inbox here and keep it")
    args = p.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        summary = fuzz(args.seed, args.count, args.corpus, args.keep, args.parallel)
    else:
        with tempfile.TemporaryDirectory(prefix="utkast-fuzz-") as tmp:
            summary = fuzz(args.seed, args.count, args.corpus, Path(tmp), args.parallel)
    details = summary.pop("escaped_details")
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    for text in details:
        print(text, file=sys.stderr)
    failed = summary["escaped"] or summary["problems"]
    print(f"{summary['count']} files, {summary['escaped']} escaped exceptions, "
          f"{len(summary['problems'])} files without a proper verdict: {'FAIL' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
