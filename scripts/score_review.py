#!/usr/bin/env python3
"""The language review's figures in one table: DaLAJ dev, MultiGED-2023 dev, real agency prose,
the decision document and words per second, each for the rules alone, the learned model alone
and both (what partners get).

    .venv/bin/python scripts/score_review.py [--shared ../shared] [--write docs/language-figures.md]
                                             [--threshold T] [--quick]

Every text goes through the same function as ``utkast review FILE --json`` (tasks/review/run.py:
review_file, with templates/review.toml), written as a .txt file of one paragraph per sentence,
and is scored the way ../shared/dalaj/score.py and ../shared/multiged/score.py score it (a DaLAJ
hit: a finding on the wrong sentence within 2 characters of the edited span; a false alarm: any
finding on the corrected sentence; MultiGED: a token is marked where a finding overlaps it).
"Rules" and "model" are the findings of the same run without, and only with, the model's rule
id: the model only adds findings, so that is what each part contributes. ``--threshold`` tries
another model threshold without retraining. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import collections
import csv
import difflib
import functools
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.score_corpus import KNOWN_TYPOS, corpus_files  # noqa: E402
from scripts.train_detector import detok, read_split  # noqa: E402
from tasks.core.config import load_config  # noqa: E402
from tasks.review.checker import open_checker  # noqa: E402
from tasks.review.detector import PUNCT, RULE_ID, capital_inside, open_vocabulary  # noqa: E402
from tasks.review.run import review_file  # noqa: E402
from tasks.review.settings import load_review_settings  # noqa: E402

PARTS = {"rules": lambda f: f["rule_id"] != RULE_ID, "model": lambda f: f["rule_id"] == RULE_ID,
         "both": lambda f: True}


def review_paragraphs(texts: list[str], config, checker, settings) -> list[list[dict]]:
    """Findings per paragraph of a .txt file holding ``texts``, one a paragraph."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "text.txt"
        path.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
        reviewed, _ = review_file(path, config, checker, settings)
    if len(reviewed.blocks) != len(texts):
        raise SystemExit(f"expected one block a paragraph: {len(reviewed.blocks)} for {len(texts)}")
    per = [[] for _ in texts]
    for f in reviewed.findings:
        per[f["block"]].append(f)
    return per


def edited_span(wrong: str, right: str):
    ops = [op for op in difflib.SequenceMatcher(None, wrong, right, autojunk=False).get_opcodes() if op[0] != "equal"]
    return (ops[0][1], max(ops[-1][2], ops[0][1] + 1)) if ops else None


def dalaj(path: Path, config, checker, settings) -> dict:
    """Hit rate and false alarms per 100 corrected sentences, by family and for the odd/even halves."""
    rows = [r for r in csv.reader(path.open(encoding="utf-8"), delimiter="\t") if len(r) == 4]
    wrong = review_paragraphs([r[2] for r in rows], config, checker, settings)
    right = review_paragraphs([r[3] for r in rows], config, checker, settings)
    result = {}
    for part, keep in PARTS.items():
        stats = collections.defaultdict(lambda: [0, 0, 0])
        for n, ((_, label, w, r), fw, fr) in enumerate(zip(rows, wrong, right)):
            span = edited_span(w, r)
            if span is None:
                continue
            hit = any(keep(f) and f["block_offset"] <= span[1] + 2 and f["block_offset"] + f["length"] >= span[0] - 2
                      for f in fw)
            first = label.split(",")[0].strip() or "?"
            for key in (first.split("-")[0], "ALL", "odd" if n % 2 else "even"):
                stats[key][0] += 1
                stats[key][1] += hit
                stats[key][2] += sum(keep(f) for f in fr)
        result[part] = {k: {"n": n, "found": round(100 * h / n, 1), "false_per_100": round(100 * fa / n, 1)}
                        for k, (n, h, fa) in stats.items()}
    return result


# MultiGED labels tokens c/i without an error family; what can be told apart is the kind of token.
KINDS = {"unknown": "a word the speller lacks", "capital": "a capital inside a sentence",
         "punct": "a punctuation mark", "word": "any other word"}


def token_kind(vocab, tokens: list[str], i: int) -> str:
    word = tokens[i]
    if PUNCT.match(word):
        return "punct"
    if "unknown" in vocab.word_features(word):
        return "unknown"
    if capital_inside(tokens, i):
        return "capital"
    return "word"


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f05 = 1.25 * p * r / (0.25 * p + r) if p + r else 0.0
    return {"P": round(100 * p, 2), "R": round(100 * r, 2), "F0.5": round(100 * f05, 2)}


def token_scores(sents, per, keep, kind=None) -> dict:
    """Token P/R/F0.5 as the shared task counts; with ``kind`` (token list, index -> name) also
    per kind of token, with each kind's share of the error tokens (``errors``, %)."""
    counts = collections.defaultdict(lambda: [0, 0, 0])
    for s, found in zip(sents, per):
        tokens = [t for t, _ in s]
        _, spans = detok(tokens)
        marks = [(f["block_offset"], f["block_offset"] + max(1, f["length"])) for f in found if keep(f)]
        for i, ((_, label), (a, b)) in enumerate(zip(s, spans)):
            pred = any(fa < b and fb > a for fa, fb in marks)
            for key in ("ALL", kind(tokens, i)) if kind else ("ALL",):
                counts[key][0] += pred and label == "i"
                counts[key][1] += pred and label != "i"
                counts[key][2] += label == "i" and not pred
    out = prf(*counts["ALL"])
    if kind:
        errors = sum(tp + fn for tp, _, fn in (counts[k] for k in KINDS))
        out["kinds"] = {k: {**prf(*counts[k]), "errors": round(100 * (counts[k][0] + counts[k][2]) / max(errors, 1), 1)}
                        for k in KINDS}
    return out


def multiged(path: Path, config, checker, settings) -> dict:
    sents = read_split(path)
    per = review_paragraphs([detok([t for t, _ in s])[0] for s in sents], config, checker, settings)
    vocab = open_vocabulary(settings.language)
    return {part: token_scores(sents, per, keep, functools.partial(token_kind, vocab)) for part, keep in PARTS.items()}


def document_counts(paths: list[Path], config, checker, settings) -> dict:
    """Findings per 1,000 words and whether each known typo is found."""
    words, found, typos = 0, collections.Counter(), {t: False for t in KNOWN_TYPOS}
    model_texts = []
    for path in paths:
        reviewed, _ = review_file(path, config, checker, settings)
        text = reviewed.text
        words += reviewed.words
        for part, keep in PARTS.items():
            found[part] += sum(keep(f) for f in reviewed.findings)
        model_texts += [f["text"] for f in reviewed.findings if f["rule_id"] == RULE_ID]
        for typo in KNOWN_TYPOS:
            at = text.find(typo)
            while at >= 0:
                typos[typo] |= any(f["offset"] < at + len(typo) and at < f["offset"] + f["length"]
                                   for f in reviewed.findings)
                at = text.find(typo, at + 1)
    return {"words": words, "typos_found": typos, "model_flagged": model_texts,
            **{part: {"findings": found[part], "per_1000": round(1000 * found[part] / max(words, 1), 2)}
               for part in PARTS}}


def words_per_second(config, settings) -> dict:
    """The review as the pipeline runs it (bench_review's 'pipeline'), with and without the model."""
    from scripts.bench_review import bench_review, count_words, load_documents
    from tasks.core.parallel import workers
    from tasks.review.checker import EmbeddedChecker

    docs = load_documents(sorted((ROOT / "scripts" / "sample_reports").glob("*")), 3)
    words = count_words(docs)
    out = {}
    for name, on in (("rules", False), ("both", True)):
        with EmbeddedChecker(settings.tuning) as checker:
            r = bench_review(docs, checker, replace(settings, detector=on), 3, workers())
        out[name] = round(words / r["seconds"])
    return out


def table(figures: dict) -> str:
    d, m, c, s = figures["dalaj"], figures["multiged"], figures["corpus"], figures["decision"]
    lines = ["| measure | rules alone | model alone | both (what partners get) | goal |", "|---|---|---|---|---|"]

    def row(name, values, goal):
        lines.append(f"| {name} | " + " | ".join(values) + f" | {goal} |")

    row("DaLAJ dev: error found where it is", [f"{d[p]['ALL']['found']} %" for p in PARTS], "≥ 40 %")
    row("DaLAJ dev: morphology / syntax", [f"{d[p]['M']['found']} % / {d[p]['S']['found']} %" for p in PARTS],
        "≥ 35 % / ≥ 15 %")
    row("DaLAJ dev: false alarms per 100 correct sentences", [f"{d[p]['ALL']['false_per_100']}" for p in PARTS], "≤ 5")
    row("DaLAJ dev odd / even half: found", [f"{d[p]['odd']['found']} % / {d[p]['even']['found']} %" for p in PARTS], "")
    row("DaLAJ dev odd / even half: false alarms per 100",
        [f"{d[p]['odd']['false_per_100']} / {d[p]['even']['false_per_100']}" for p in PARTS], "")
    for fam in ("O", "M", "S", "L", "P"):
        row(f"DaLAJ dev {fam}: found / false alarms per 100",
            [f"{d[p][fam]['found']} % / {d[p][fam]['false_per_100']}" for p in PARTS], "")
    row("MultiGED-2023 dev: P / R / F0.5", [f"{m[p]['P']} / {m[p]['R']} / {m[p]['F0.5']}" for p in PARTS],
        "F0.5 ≥ 62, P ≥ 75")
    for kind, name in KINDS.items():
        share = m["both"]["kinds"][kind]["errors"]
        row(f"MultiGED-2023 dev, {name} ({share} % of the errors): P / R",
            [f"{m[p]['kinds'][kind]['P']} / {m[p]['kinds'][kind]['R']}" for p in PARTS], "")
    row("agency prose: findings per 1,000 words", [f"{c[p]['per_1000']} ({c[p]['findings']})" for p in PARTS],
        "≤ 5, both typos found")
    row("agency prose: known typos found", ["", "", ", ".join(f"{t} {'yes' if v else 'NO'}"
                                                             for t, v in c["typos_found"].items())], "both")
    row("decision document: findings", [str(s[p]["findings"]) for p in PARTS], "≤ 46")
    if "words_per_second" in figures:
        w = figures["words_per_second"]
        row("review in the pipeline: words/s", [str(w["rules"]), "", str(w["both"])], "≥ 10,000")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--write", type=Path, help="write the table as Markdown here")
    parser.add_argument("--threshold", type=float, help="the model's threshold (default: templates/review.toml's)")
    parser.add_argument("--veto", type=float, help="the model's veto (default: templates/review.toml's)")
    parser.add_argument("--quick", action="store_true", help="skip the words/s measurement")
    args = parser.parse_args(argv)
    config = load_config()
    settings = load_review_settings(config.templates, config.registry)
    settings = replace(settings, detector=True, detector_threshold=args.threshold or settings.detector_threshold,
                       detector_veto=settings.detector_veto if args.veto is None else args.veto)
    started = time.perf_counter()
    figures = {}
    with open_checker(settings.tuning, env={}) as checker:
        figures["dalaj"] = dalaj(args.shared / "dalaj" / "dev.tsv", config, checker, settings)
        figures["multiged"] = multiged(args.shared / "multiged" / "sv_swell_dev.tsv", config, checker, settings)
        figures["corpus"] = document_counts(corpus_files(args.shared / "corpus"), config, checker, settings)
        figures["decision"] = document_counts([args.shared / "seed" / "beslutsunderlag.md"], config, checker, settings)
    if not args.quick:
        figures["words_per_second"] = words_per_second(config, settings)
    text = table(figures)
    print(text)
    print("\nmodel findings, agency prose: " + "; ".join(figures["corpus"]["model_flagged"]))
    print("model findings, decision document: " + "; ".join(figures["decision"]["model_flagged"]))
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.write:
        head = ("# The language review in figures\n\nRegenerate with `.venv/bin/python scripts/score_review.py "
                f"--write {args.write}` (needs ../shared). Model threshold {settings.detector_threshold or 'as trained'}; "
                f"measured on {os.cpu_count()} cores.\n\n")
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(head + text + "\n" + text_after_table(args.write), encoding="utf-8")
    return 0


def text_after_table(page: Path) -> str:
    """What the figures page says below its table (written by hand; kept when the table is
    written again), or nothing for a new page."""
    if not page.is_file():
        return ""
    lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join(lines[end:])


if __name__ == "__main__":
    sys.exit(main())
