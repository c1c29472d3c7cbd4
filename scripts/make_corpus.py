#!/usr/bin/env python3
"""Generate a deterministic synthetic inbox of N partner reports for benchmarks.

    .venv/bin/python scripts/make_corpus.py --n 300 --seed 1 --out /tmp/bench/inbox [--profile plain]

Profiles (``--profile``), all Swedish-like prose built from a fixed Swedish vocabulary with a
seeded random generator:

- ``standard``: 2-3 pages with headings, a bulleted list and a table; 80 % .docx, 10 % .odt,
  10 % .md;
- ``plain``: plainer Word files as python-docx makes them: a title, headings and about 40
  paragraphs (about 1,400 words), no lists, no tables; all .docx;
- ``light``: light Word files: python-docx reports of about 1,000 words (a title, headings,
  about 25 paragraphs) whose styles part holds only the styles they use, as a word processor
  saves a short document (python-docx's own template carries 350 KB of styles, which alone
  costs pandoc about 80 ms a file); pandoc reads one in about 30 ms; all .docx;
- ``mixed``: each report ``standard`` or ``plain``, half and half.

Reports are spread over the 14 partners and the 17 pieces,
one report per (partner, piece) slot; past 238 reports, further local organisations
(``lokal-0001`` …) deliver reports too, as they would at national scale, and are written
to a partner registry next to the inbox (``<out>/../templates``) that the benchmark
uses. The same seed always gives the same documents.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUBJECTS = ["verksamheten", "handledaren", "deltagaren", "butiken", "föreningen", "kommunen", "Arbetsförmedlingen",
            "Försäkringskassan", "arbetsgruppen", "styrelsen", "personalen", "samordnaren", "projektet", "partnerskapet"]
VERBS = ["utvecklar", "erbjuder", "stöder", "följer upp", "planerar", "beskriver", "förbättrar", "samordnar",
         "prövar", "kvalitetssäkrar", "dokumenterar", "organiserar", "finansierar", "värderar"]
OBJECTS = ["arbetsträningen", "handledningen", "matchningen mot arbetsmarknaden", "valideringen av kompetens",
           "rutinerna i butiken", "samverkan med myndigheter", "återbruket av kläder", "introduktionen av nya deltagare",
           "uppföljningen av resultat", "rekryteringen av handledare", "kontakten med arbetsgivare",
           "utbildningen i kundbemötande", "arbetet med sortering och prissättning", "den sociala gemenskapen"]
ADVERBIALS = ["under året", "i nära dialog med deltagarna", "på ett strukturerat sätt", "tillsammans med kommunen",
              "med stöd av ESF", "i flera av butikerna", "enligt en gemensam modell", "utifrån varje persons behov",
              "när resurserna räcker", "inom ramen för förstudien", "i hela landet", "varje vecka"]
CONNECTORS = ["Dessutom", "Samtidigt", "Därför", "I praktiken", "Enligt erfarenheten", "Till exempel", "Däremot"]
HEADINGS = ["Bakgrund", "Nuläge", "Utmaningar", "Förbättringsförslag", "Erfarenheter", "Slutsatser", "Metod",
            "Samverkan", "Resultat"]


def sentence(rng: random.Random) -> str:
    s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ADVERBIALS)}"
    if rng.random() < 0.35:
        s = f"{rng.choice(CONNECTORS)} {s[0].lower() + s[1:]}"
    return s[0].upper() + s[1:] + "."


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def report_markdown(rng: random.Random, title: str, words_target: int) -> str:
    parts = [f"# {title}", ""]
    words = 0
    headings = rng.sample(HEADINGS, 4)
    for i, heading in enumerate(headings):
        parts += [f"## {heading}", ""]
        for _ in range(rng.randint(2, 3)):
            p = paragraph(rng, rng.randint(4, 7))
            parts += [p, ""]
            words += len(p.split())
        if i == 1:
            parts += [f"- {rng.choice(OBJECTS)}" for _ in range(4)] + [""]
        if i == 2:
            parts += ["| År | Deltagare | Vidare till arbete |", "|---|---|---|"]
            parts += [f"| {2020 + k} | {rng.randint(10, 90)} | {rng.randint(2, 30)} |" for k in range(4)] + [""]
        if words >= words_target:
            break
    while words < words_target:
        p = paragraph(rng, 6)
        parts += [p, ""]
        words += len(p.split())
    return "\n".join(parts)


PROFILES = ("standard", "plain", "light", "mixed")


def plain_markdown(rng: random.Random, title: str) -> str:
    """A plainer report: a title, a few headings and about 40 paragraphs (~1,400 words)."""
    parts = [f"# {title}", ""]
    paragraphs = rng.randint(40, 46)
    headings = rng.sample(HEADINGS, -(-paragraphs // 8))
    for i in range(paragraphs):
        if i % 8 == 0:
            parts += [f"## {headings[i // 8]}", ""]
        parts += [paragraph(rng, rng.randint(3, 4)), ""]
    return "\n".join(parts)


def light_markdown(rng: random.Random, title: str) -> str:
    """A light report: a title, a few headings and about 25 paragraphs (~1,000 words)."""
    parts = [f"# {title}", ""]
    paragraphs = rng.randint(24, 28)
    headings = rng.sample(HEADINGS, -(-paragraphs // 7))
    for i in range(paragraphs):
        if i % 7 == 0:
            parts += [f"## {headings[i // 7]}", ""]
        parts += [paragraph(rng, rng.randint(3, 5)), ""]
    return "\n".join(parts)


def trim_styles(doc) -> None:
    """Keep only the styles the document's paragraphs use (and the defaults)."""
    from docx.oxml.ns import qn

    styles = doc.styles.element
    used = {p.style.style_id for p in doc.paragraphs} | {"Normal"}
    for style in styles.findall(qn("w:style")):
        if style.get(qn("w:styleId")) not in used and style.get(qn("w:default")) != "1":
            styles.remove(style)


def write_docx(markdown: str, title: str, path: Path, plain: bool = False, light: bool = False) -> None:
    """Write with python-docx (what a partner's Word would make); ``plain``: the title in
    Word's Title style and the headings one level up; ``light``: that, and only the styles
    used kept."""
    from docx import Document

    doc = Document()
    doc.core_properties.title = title
    table_rows = []
    shift = 1 if plain or light else 0
    for line in markdown.splitlines():
        if line.startswith("# "):
            doc.add_heading(line[2:], level=1 - shift)
        elif line.startswith("## "):
            doc.add_heading(line[3:], level=2 - shift)
        elif line.startswith("- "):
            doc.add_paragraph(line[2:], style="List Bullet")
        elif line.startswith("|"):
            if not line.startswith("|---"):
                table_rows.append([c.strip() for c in line.strip("|").split("|")])
        elif line.strip():
            doc.add_paragraph(line)
        if table_rows and not line.startswith("|"):
            table = doc.add_table(rows=len(table_rows), cols=len(table_rows[0]))
            for r, row in enumerate(table_rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
            table_rows = []
    if light:
        trim_styles(doc)
    buf = io.BytesIO()
    doc.save(buf)
    path.write_bytes(buf.getvalue())


def generate(n: int, seed: int, out: Path, profile: str = "standard") -> Path:
    """Write N reports of ``profile`` (:data:`PROFILES`) into ``out`` (an inbox); return the
    templates folder to use with it."""
    import pypandoc

    from tasks.core.config import default_templates, load_config

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    config = load_config()
    rng = random.Random(seed)
    partners = [p.slug for p in config.registry.partners]
    pieces = list(config.outline.pieces)
    extra = max(0, -(-n // len(pieces)) - len(partners))  # more organisations past 14 x 17
    local = [f"lokal-{i:04d}" for i in range(1, extra + 1)]
    everyone = partners + local
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    odt_jobs = []
    for i in range(n):
        partner, piece = everyone[i % len(everyone)], pieces[(i // len(everyone)) % len(pieces)]
        title = f"{config.outline.pieces[piece].title.split(',')[0]} – erfarenheter"
        plain = profile == "plain" or (profile == "mixed" and rng.random() < 0.5)
        if profile == "light":
            md, kind = light_markdown(rng, title), "docx"
        elif plain:
            md, kind = plain_markdown(rng, title), "docx"
        else:
            md = report_markdown(rng, title, rng.randint(800, 1250))
            kind = rng.choices(["docx", "odt", "md"], weights=[8, 1, 1])[0]
        path = out / partner / f"{piece} Rapport {i:04d}.{kind}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "docx":
            write_docx(md, title, path, plain, light=profile == "light")
        elif kind == "md":
            path.write_text(md + "\n", encoding="utf-8")
        else:
            odt_jobs.append((md, path))
    for md, path in odt_jobs:
        subprocess.run([pypandoc.get_pandoc_path(), "-f", "markdown", "-o", str(path)], input=md.encode(), check=True)
    templates = out.parent / "templates"
    if templates.exists():
        shutil.rmtree(templates)
    shutil.copytree(default_templates(), templates)
    if local:
        with open(templates / "partners.toml", "a", encoding="utf-8") as fh:
            for slug in local:
                fh.write(f'\n[[partner]]\nslug = "{slug}"\nname = "Lokal verksamhet {slug[6:]}"\n')
    return templates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True, help="inbox folder to (re)create")
    ap.add_argument("--profile", choices=PROFILES, default="standard", help="what the reports look like")
    args = ap.parse_args()
    templates = generate(args.n, args.seed, args.out, args.profile)
    print(f"{args.n} {args.profile} reports in {args.out}; templates for them in {templates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
