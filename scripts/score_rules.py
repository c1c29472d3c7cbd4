#!/usr/bin/env python3
"""Which rule finds what on sentence pairs (a learner sentence with one error, and its correction).

    .venv/bin/python scripts/score_rules.py ../shared/dalaj/dev.tsv [--rule ID] [--show hits|false|missed] [--family M]

The same scoring as ``../shared/dalaj/score.py`` (a hit: a finding on the wrong sentence that
overlaps the edited span, +-2 characters; a false alarm: any finding on the corrected sentence),
but run in this process through the review's own functions, with the figures per rule id as
well as per error family, so a rule can be judged on what it finds and what it gets wrong.
``--show`` prints the sentences behind the figures. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import collections
import csv
import difflib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.core.config import load_config  # noqa: E402
from tasks.review.check import review_blocks  # noqa: E402
from tasks.review.checker import open_checker  # noqa: E402
from tasks.review.settings import load_review_settings  # noqa: E402
from tasks.review.text import Block  # noqa: E402


def edited_span(wrong: str, right: str):
    ops = [op for op in difflib.SequenceMatcher(None, wrong, right, autojunk=False).get_opcodes() if op[0] != "equal"]
    return (ops[0][1], max(ops[-1][2], ops[0][1] + 1)) if ops else None


def per_sentence(findings: list[dict], n: int) -> list[list[dict]]:
    per = [[] for _ in range(n)]
    for f in findings:
        per[f["block"]].append(f)
    return per


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--rule", help="only findings of rule ids starting with this")
    parser.add_argument("--family", help="only pairs whose label starts with this (M, M-Gend, S, ...)")
    parser.add_argument("--show", choices=("hits", "false", "missed"), help="print these sentences")
    args = parser.parse_args(argv)
    rows = [r for r in csv.reader(args.pairs.open(encoding="utf-8"), delimiter="\t") if len(r) == 4]
    if args.family:
        rows = [r for r in rows if r[1].startswith(args.family)]
    config = load_config()
    settings = load_review_settings(config.templates, config.registry)
    started = time.perf_counter()
    with open_checker(settings.tuning) as checker:
        wrong = per_sentence(review_blocks([Block(r[2]) for r in rows], checker, settings), len(rows))
        right = per_sentence(review_blocks([Block(r[3]) for r in rows], checker, settings), len(rows))
    seconds = time.perf_counter() - started
    keep = (lambda f: f["rule_id"].startswith(args.rule)) if args.rule else (lambda f: True)
    families = collections.defaultdict(lambda: [0, 0, 0])
    rules = collections.defaultdict(lambda: [0, 0])  # hits, false alarms
    for (_, label, w, r), fw, fr in zip(rows, wrong, right):
        span = edited_span(w, r)
        if span is None:
            continue
        fw, fr = [f for f in fw if keep(f)], [f for f in fr if keep(f)]
        hits = [f for f in fw if f["block_offset"] <= span[1] + 2 and f["block_offset"] + f["length"] >= span[0] - 2]
        first = label.split(",")[0].strip() or "?"
        for key in (first.split("-")[0], first, "ALL"):
            families[key][0] += 1
            families[key][1] += bool(hits)
            families[key][2] += len(fr)
        for f in {f["rule_id"]: f for f in hits}.values():
            rules[f["rule_id"]][0] += 1
        for f in fr:
            rules[f["rule_id"]][1] += 1
        if args.show == "hits" and hits:
            print(f"{label:10} {w}\n{'':10} {r}\n{'':10} " + "; ".join(f"{f['rule_id']}: {f['text']!r} -> {f['suggestions'][:2]}" for f in hits))
        elif args.show == "false" and fr:
            print(f"{label:10} {r}\n{'':10} " + "; ".join(f"{f['rule_id']}: {f['text']!r} ({f['message'][:60]})" for f in fr))
        elif args.show == "missed" and not hits:
            print(f"{label:10} {w}\n{'':10} {r}")
    order = sorted((k for k in families if k != "ALL"), key=lambda k: ("-" in k, k)) + ["ALL"]
    for k in order:
        n, h, fa = families[k]
        print(f"{k:10} n={n:5} hit={h / n:6.1%} false_alarms_per_100_correct={100 * fa / n:5.1f}")
    print("\nrule                                      hits  false alarms")
    for rule, (h, fa) in sorted(rules.items(), key=lambda kv: (-kv[1][0], kv[1][1])):
        print(f"{rule:40} {h:5} {fa:5}")
    words = sum(len(r[2].split()) + len(r[3].split()) for r in rows)
    print(f"\n{len(rows)} pairs, {words} words checked in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
