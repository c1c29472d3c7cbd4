#!/usr/bin/env python3
"""Train the review's learned error detector on MultiGED-2023 Swedish train; choose its
threshold on dev; write the model into the package.

    .venv/bin/python scripts/train_detector.py [--data ../shared/multiged] [--out tasks/review/model]

Deterministic: the same data, code and rule set give the same model file, byte for byte
(CRFsuite's L-BFGS has no randomness; features and sentences are in file order). About
two minutes on 2 cores. Only the train split is learnt from; dev chooses the threshold and
is reported; the MultiGED test split is never read. See docs/language-review.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.core.config import load_config  # noqa: E402
from tasks.review import detector  # noqa: E402
from tasks.review.check import review_blocks  # noqa: E402
from tasks.review.checker import open_checker  # noqa: E402
from tasks.review.settings import load_review_settings  # noqa: E402
from tasks.review.text import Block  # noqa: E402

NO_SPACE_BEFORE = set(".,!?:;)]}%»”")
NO_SPACE_AFTER = set("([{«")
# CRFsuite's settings: L-BFGS with both penalties (c1 keeps the model small); a feature seen
# fewer than 5 times in train is not learnt (rare tag combinations otherwise get large weights
# that fire on correct prose).
CRF_PARAMS = {"c1": 0.2, "c2": 0.01, "max_iterations": 200, "feature.possible_transitions": True,
              "feature.minfreq": 5}
# The threshold the review uses: chosen so that correct text stays quiet (DaLAJ's corrected
# sentences, agency prose, the decision document; scripts/score_review.py), not for the best
# F0.5 on MultiGED dev, which is printed beside it.
SHIPPED_THRESHOLD = 0.999


def read_split(path: Path) -> list[list[tuple[str, str]]]:
    """Sentences of a MultiGED file: (token, label) per line, a blank line between sentences."""
    sents, cur = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line:
            if cur:
                sents.append(cur)
                cur = []
            continue
        tok, label = line.rsplit("\t", 1)
        cur.append((tok, label))
    if cur:
        sents.append(cur)
    return sents


def detok(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """One paragraph of text from tokens, as ../shared/multiged/score.py writes it."""
    text, spans = "", []
    for i, tok in enumerate(tokens):
        if i and not (tok[0] in NO_SPACE_BEFORE or text[-1:] in NO_SPACE_AFTER):
            text += " "
        spans.append((len(text), len(text) + len(tok)))
        text += tok
    return text, spans


def rule_findings(texts: list[str], checker, settings) -> list[list[tuple[int, int, str]]]:
    """The rules' findings per paragraph (what a partner would see without the detector)."""
    found = review_blocks([Block(t) for t in texts], checker, settings, detect=False)
    per = [[] for _ in texts]
    for f in found:
        per[f["block"]].append((f["block_offset"], f["block_offset"] + f["length"], f["rule_id"]))
    return per


def examples(sents, rules, vocab) -> list[dict]:
    """Per paragraph: the gold tokens and spans, the rules' spans, and per sentence the tokens,
    labels (``i`` where a gold error token overlaps) and features."""
    out = []
    for s, found in zip(sents, rules):
        text, spans = detok([t for t, _ in s])
        found = [tuple(r) for r in found]
        gold = [span for (_, label), span in zip(s, spans) if label == "i"]
        seqs = []
        for sentence in detector.sentences(detector.tokenize(text)):
            labels = ["i" if any(a < t.end and t.start < b for a, b in gold) else "c" for t in sentence]
            seqs.append((sentence, labels, detector.sentence_features(vocab, sentence, found)))
        out.append({"spans": spans, "gold": [lab for _, lab in s], "rules": found, "seqs": seqs})
    return out


def train(data: list[dict], model: Path, params: dict) -> None:
    import pycrfsuite

    trainer = pycrfsuite.Trainer(verbose=False)
    for ex in data:
        for _, labels, features in ex["seqs"]:
            trainer.append(features, labels)
    trainer.set_params(params)
    trainer.train(str(model))


def probabilities(data: list[dict], model: Path) -> list[list[float]]:
    import pycrfsuite

    tagger = pycrfsuite.Tagger()
    tagger.open(str(model))
    out = []
    for ex in data:
        probs = []
        for tokens, _, features in ex["seqs"]:
            tagger.set(features)
            probs += [tagger.marginal("i", k) for k in range(len(tokens))]
        out.append(probs)
    return out


def score(data: list[dict], predicted: list[list[tuple[int, int]]]) -> dict:
    """Token P/R/F0.5 against the gold tokens, as the shared task (and score.py) count."""
    tp = fp = fn = 0
    for ex, found in zip(data, predicted):
        for (a, b), label in zip(ex["spans"], ex["gold"]):
            pred = any(fa < b and fb > a for fa, fb in found)
            gold = label == "i"
            tp += pred and gold
            fp += pred and not gold
            fn += gold and not pred
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 1.25 * p * r / (0.25 * p + r) if p + r else 0.0
    return {"P": round(100 * p, 2), "R": round(100 * r, 2), "F0.5": round(100 * f, 2)}


def model_spans(ex: dict, probs: list[float], threshold: float) -> list[tuple[int, int]]:
    tokens = [t for seq, _, _ in ex["seqs"] for t in seq]
    return [(t.start, t.end) for t, p in zip(tokens, probs) if p >= threshold]


def rule_spans(ex: dict) -> list[tuple[int, int]]:
    return [(a, max(b, a + 1)) for a, b, _ in ex["rules"]]


def choose_threshold(data, probs, min_precision: float) -> tuple[float, dict]:
    """The threshold with the best F0.5 of rules + model on ``data`` whose precision is at least
    ``min_precision``."""
    best = (0.99, {"F0.5": -1})
    for k in range(30, 96):
        th = k / 100
        s = score(data, [rule_spans(ex) + model_spans(ex, p, th) for ex, p in zip(data, probs)])
        if s["P"] >= min_precision and s["F0.5"] > best[1]["F0.5"]:
            best = (th, s)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "multiged")
    parser.add_argument("--out", type=Path, default=detector.MODEL_DIR)
    parser.add_argument("--min-precision", type=float, default=75.0)
    parser.add_argument("--threshold", type=float, default=SHIPPED_THRESHOLD,
                        help="the threshold stored with the model (default: %(default)s)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = load_config()
    settings = load_review_settings(config.templates, config.registry)
    vocab = detector.open_vocabulary(settings.language)
    splits = {name: read_split(args.data / f"sv_swell_{name}.tsv") for name in ("train", "dev")}
    with open_checker(settings.tuning, env={}) as checker:
        rules = {name: rule_findings([detok([t for t, _ in s])[0] for s in sents], checker, settings)
                 for name, sents in splits.items()}
    train_set = examples(splits["train"], rules["train"], vocab)
    dev_set = examples(splits["dev"], rules["dev"], vocab)
    print(f"features made in {time.perf_counter() - started:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.out / detector.MODEL_FILE
    train(train_set, model, CRF_PARAMS)
    print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)
    probs = probabilities(dev_set, model)
    threshold = args.threshold
    best, best_figures = choose_threshold(dev_set, probs, args.min_precision)
    print(f"best threshold on MultiGED dev alone (rules + model, P >= {args.min_precision}): {best} {best_figures}")
    figures = {
        "rules": score(dev_set, [rule_spans(ex) for ex in dev_set]),
        "model": score(dev_set, [model_spans(ex, p, threshold) for ex, p in zip(dev_set, probs)]),
        "both": score(dev_set, [rule_spans(ex) + model_spans(ex, p, threshold) for ex, p in zip(dev_set, probs)]),
    }
    meta = {"threshold": threshold, "crf": CRF_PARAMS, "dev": figures, "best_on_dev_alone": [best, best_figures],
            "train_sentences": len(train_set), "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest()}
    (args.out / detector.META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name, s in figures.items():
        print(f"dev {name:6} P={s['P']:.2f} R={s['R']:.2f} F0.5={s['F0.5']:.2f}")
    print(f"threshold {threshold}; model {model.stat().st_size / 1e6:.1f} MB; "
          f"{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
