#!/usr/bin/env python3
"""Findings per 1,000 words on real Swedish documents (correct as published), and whether
the known typos in them are found.

    .venv/bin/python scripts/score_corpus.py [--corpus ../shared/corpus] [--json FILE] [--show N]

Runs ``utkast review FILE --json`` (the command partners' coordinators run) on every file of
``swedish/`` and ``swedish-text/`` under the corpus folder, and prints per file and in all:
words, findings, findings per 1,000 words, findings per category, the words flagged most often,
and for each known typo whether a finding covers it. Exits 1 when a known typo is not found.
This is a measurement, not a test (``tests/test_language.py`` asserts the limits).
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("swedish", "swedish-text")
SUFFIXES = (".docx", ".odt", ".md", ".txt")
# Real typos in the published documents: each must stay found.
KNOWN_TYPOS = ("karatänperiod", "lämligt")


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for folder in FOLDERS if (corpus / folder).is_dir()
                  for p in (corpus / folder).iterdir() if p.suffix.lower() in SUFFIXES)


def review(utkast: str, path: Path) -> dict:
    result = subprocess.run([utkast, "review", str(path), "--json"], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        sys.exit(f"utkast review {path.name} failed: {result.stderr[-1500:]}")
    return json.loads(result.stdout)


def score(files: list[Path], utkast: str) -> dict:
    """Per file and in all: words, findings, per 1,000 words, categories, flagged words, typos."""
    per_file, words, findings = [], 0, []
    typos = {t: False for t in KNOWN_TYPOS}
    for path in files:
        data = review(utkast, path)
        text = data["text"]
        n_words = data.get("words") or len(text.split())
        found = data["findings"]
        for typo in KNOWN_TYPOS:
            start = text.find(typo)
            while start >= 0:
                if any(f["offset"] < start + len(typo) and start < f["offset"] + f["length"] for f in found):
                    typos[typo] = True
                start = text.find(typo, start + 1)
        per_file.append({"file": f"{path.parent.name}/{path.name}", "words": n_words, "findings": len(found),
                         "per_1000": round(1000 * len(found) / max(n_words, 1), 2)})
        words += n_words
        findings += found
    return {
        "files": per_file, "words": words, "findings": len(findings),
        "per_1000": round(1000 * len(findings) / max(words, 1), 2),
        "by_category": dict(collections.Counter(f["category_name"] for f in findings).most_common()),
        "by_rule": dict(collections.Counter(f["rule_id"] for f in findings).most_common()),
        "flagged": collections.Counter(f["text"] for f in findings).most_common(),
        "typos_found": typos,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--utkast", default=str(ROOT / ".venv" / "bin" / "utkast"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--show", type=int, default=30, help="how many of the most flagged words to list")
    args = parser.parse_args(argv)
    files = corpus_files(args.corpus)
    if not files:
        sys.exit(f"no Swedish documents under {args.corpus}")
    result = score(files, args.utkast)
    for f in result["files"]:
        print(f"{f['file']:70} {f['words']:6} words {f['findings']:4} findings {f['per_1000']:6.1f} per 1,000")
    print(f"\nIn all: {result['words']} words, {result['findings']} findings, "
          f"{result['per_1000']:.1f} per 1,000 words")
    print("By category: " + ", ".join(f"{k} {v}" for k, v in result["by_category"].items()))
    print("By rule: " + ", ".join(f"{k} {v}" for k, v in result["by_rule"].items()))
    print("Flagged most: " + ", ".join(f"{w} ({n})" for w, n in result["flagged"][:args.show]))
    for typo, found in result["typos_found"].items():
        print(f"typo {typo}: {'found' if found else 'NOT FOUND'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if all(result["typos_found"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
