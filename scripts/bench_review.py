#!/usr/bin/env python3
"""Benchmark the language review: words per second, all on the same text, in one run.

    .venv/bin/python scripts/bench_review.py [--repeat 3] [--rounds 3] [--json bench-results/review.json] [FILE ...]

Measures
  engine        LingoTweaker's engine on its own: one lt_py.Engine, one paragraph after another
  pipeline-1    the review as the pipeline runs it, in this process only (workers = 1)
  pipeline      the review as the pipeline runs it: documents side by side, worker processes
  server        the same through utkast's HTTP client and a LanguageTool server on 127.0.0.1
                (the test stand-in, in its own process, backed by the same rules)

The text is the sample reports (scripts/sample_reports) or the files given, read the way
the review reads them, repeated --repeat times. Start-up (loading rules, starting worker
processes, connecting) is timed separately and not counted in words per second. The best
of --rounds rounds is reported. Standard library timing only; this is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.core.config import load_config  # noqa: E402
from tasks.core.parallel import workers  # noqa: E402
from tasks.review.check import read_review_text, review_blocks  # noqa: E402
from tasks.review.checker import (  # noqa: E402
    EmbeddedChecker,
    ServerChecker,
    check_with_engine,
    embedded_version,
)
from tasks.review.settings import load_review_settings  # noqa: E402


def load_documents(paths: list[Path], repeat: int) -> list[list]:
    docs = []
    for path in paths:
        kind = {".md": "md", ".txt": "txt", ".docx": "docx"}.get(path.suffix.lower())
        if kind is None:
            print(f"skipping {path} (use .md, .txt or .docx)", file=sys.stderr)
            continue
        docs.append(read_review_text(kind, path.read_bytes(), None).blocks)
    return docs * repeat


def count_words(docs) -> int:
    return sum(len(b.text.split()) for blocks in docs for b in blocks)


def best_of(rounds: int, run) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_engine(docs, settings, rounds: int) -> dict:
    import lt_py

    start = time.perf_counter()
    engine = lt_py.Engine(settings.language)
    startup = time.perf_counter() - start
    texts = [b.checked_text() for blocks in docs for b in blocks]
    seconds = best_of(rounds, lambda: [check_with_engine(engine, t) for t in texts])
    return {"seconds": seconds, "startup": startup}


def bench_review(docs, checker, settings, rounds: int, threads: int) -> dict:
    """Documents reviewed side by side, as the flow's task runner does."""
    start = time.perf_counter()
    checker.prepare(count_words(docs))
    checker.check(["Uppvärmning av granskningen."])
    startup = time.perf_counter() - start

    def run():
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda blocks: review_blocks(blocks, checker, settings), docs))

    return {"seconds": best_of(rounds, run), "startup": startup}


def start_stand_in() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.lt_server"], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"the LanguageTool stand-in did not start (got {url!r})")
    return proc, url


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="how many times the text is reviewed per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement; the best counts")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    config = load_config()
    settings = load_review_settings(config.templates, config.registry)
    paths = args.files or sorted((ROOT / "scripts" / "sample_reports").glob("*"))
    docs = load_documents(paths, args.repeat)
    words = count_words(docs)
    threads = workers()
    print(f"{len(docs)} documents, {words} words; {os.cpu_count()} CPU cores; {embedded_version()}")

    results = {"engine": bench_engine(docs, settings, args.rounds)}
    with EmbeddedChecker(replace(settings.tuning, workers=1)) as single:
        results["pipeline-1"] = bench_review(docs, single, settings, args.rounds, 1)
    with EmbeddedChecker(settings.tuning) as pooled:
        results["pipeline"] = bench_review(docs, pooled, settings, args.rounds, threads)
        results["pipeline"]["workers"] = pooled.workers
    proc, url = start_stand_in()
    try:
        with ServerChecker(url, settings.tuning) as server:
            results["server"] = bench_review(docs, server, settings, args.rounds, threads)
            results["server"]["max_parallel_requests"] = settings.tuning.max_parallel_requests
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    base = words / results["engine"]["seconds"]
    print(f"\n{'path':12} {'words/s':>9} {'x engine':>9} {'start-up s':>11}")
    for name, r in results.items():
        r["words_per_second"] = round(words / r["seconds"], 1)
        r["ratio_to_engine"] = round(r["words_per_second"] / base, 2)
        print(f"{name:12} {r['words_per_second']:9.0f} {r['ratio_to_engine']:9.2f} {r['startup']:11.2f}")
    report = {"words": words, "documents": len(docs), "rounds": args.rounds, "cpu_count": os.cpu_count(),
              "python": platform.python_version(), "engine_version": embedded_version(),
              "files": [str(p) for p in paths], "results": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
