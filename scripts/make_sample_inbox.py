"""Generate the sample inbox for the quick start: ``inbox/<partner-slug>/<file>``.

The Swedish sample reports are written for this project (invented organisations' views and
invented figures; no personal data). Their Markdown/text sources live in
``scripts/sample_reports/``; this script turns them into the formats partners really send,
with pandoc (found through ``pypandoc.get_pandoc_path()``):

    .venv/bin/python scripts/make_sample_inbox.py            # writes inbox/
    .venv/bin/python scripts/make_sample_inbox.py --out DIR  # writes DIR/ instead

What the sample covers (11 reports, 10 of the 17 pieces, 11 of the 14 partners):

    piece  partner             file                                                   format
    1.1    hela-manniskan      1.1 Översikt arbetsintegrerande second hand.docx       docx (table, footnote)
    1.3    myrorna             1.3 Kvalitetssäkring.docx                              docx (lists)
    2.1    stadsmissionen      2.1 Stöd och matchning.docx                            docx (table of roles)
    2.1    roda-korset         2.1_Stod_och_matchning_Roda_Korset.docx                docx
    2.3    verdandi            2.3 validering.txt                                     txt, Windows-1252, CRLF
    2.4    erikshjalpen        2.4 Rekrytering av handledare.rtf                      rtf
    3.1    arbetsformedlingen  3.1 Från arbetspraktik till arbete.docx                docx (table)
    3.2    forum               Paket 3.2 Länken.odt                                   odt (table)
    4.2    fralsningsarmen     4.2 Grundläggande motiv.html                           html (table)
    4.3    coompanion          P4.3-verksamhetsutveckling.md                          md (front matter title, delrapport)
    5.1    raddningsmissionen  5.1 Avstämningsmöte april.docx                         docx, meeting notes (table)

- Every paket 1-5 has at least one report; piece 2.1 is delivered by two partners.
- Not delivered (gaps for the tracker): 1.2, 1.4, 2.2, 3.3, 3.4, 4.1, 5.2.
- Partners without a report: kooptjanst, forsakringskassan, skl.
- The piece id is at the start of every file name; in the .txt it is *only* in the name.
- The .docx/.odt files carry the report title in their document properties (pandoc's
  ``title`` metadata) and the organisation as author.

Two planted language slips, for demonstrating the language review (everything else is
meant to be correct Swedish):

1. ``att att`` (repeated word) in ``inbox/stadsmissionen/2.1 Stöd och matchning.docx``,
   section "Från anvisning till första dag": "Erfarenheten visar att att ett väl
   förberett första möte ...".
2. ``arbetsmarkanden`` (misspelling of "arbetsmarknaden") in ``inbox/forum/Paket 3.2
   Länken.odt``, last sentence: "... ta steget vidare ut på arbetsmarkanden."

The output is deterministic: the same bytes on every run (pandoc runs with a fixed
SOURCE_DATE_EPOCH, so no current date ends up in document properties or zip entries).
Existing files with the same names are overwritten; nothing else in the inbox is touched.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pypandoc

ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).resolve().parent / "sample_reports"
# A fixed "now" for pandoc (2017-04-18 08:00 UTC, during the April report meetings), so
# document properties and zip timestamps are the same on every run.
SOURCE_DATE_EPOCH = "1492502400"


@dataclass(frozen=True)
class Sample:
    partner: str  # folder slug, from templates/partners.toml
    piece: str  # commissioned piece, from templates/outline.toml
    name: str  # file name in the partner's folder; its extension picks the format
    source: str  # file in scripts/sample_reports/


SAMPLES = [
    Sample("hela-manniskan", "1.1", "1.1 Översikt arbetsintegrerande second hand.docx", "1.1-hela-manniskan.md"),
    Sample("myrorna", "1.3", "1.3 Kvalitetssäkring.docx", "1.3-myrorna.md"),
    Sample("stadsmissionen", "2.1", "2.1 Stöd och matchning.docx", "2.1-stadsmissionen.md"),
    Sample("roda-korset", "2.1", "2.1_Stod_och_matchning_Roda_Korset.docx", "2.1-roda-korset.md"),
    Sample("verdandi", "2.3", "2.3 validering.txt", "2.3-verdandi.txt"),
    Sample("erikshjalpen", "2.4", "2.4 Rekrytering av handledare.rtf", "2.4-erikshjalpen.md"),
    Sample("arbetsformedlingen", "3.1", "3.1 Från arbetspraktik till arbete.docx", "3.1-arbetsformedlingen.md"),
    Sample("forum", "3.2", "Paket 3.2 Länken.odt", "3.2-forum.md"),
    Sample("fralsningsarmen", "4.2", "4.2 Grundläggande motiv.html", "4.2-fralsningsarmen.md"),
    Sample("coompanion", "4.3", "P4.3-verksamhetsutveckling.md", "4.3-coompanion.md"),
    Sample("raddningsmissionen", "5.1", "5.1 Avstämningsmöte april.docx", "5.1-raddningsmissionen.md"),
]

PANDOC_TO = {".docx": "docx", ".odt": "odt", ".rtf": "rtf", ".html": "html5"}


def build(sample: Sample, out_dir: Path) -> Path:
    """Write one sample report into ``out_dir/<partner>/<name>`` and return its path."""
    src = SOURCES / sample.source
    target = out_dir / sample.partner / unicodedata.normalize("NFC", sample.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    ext = target.suffix.lower()
    if ext == ".md":
        # A partner writing Markdown: the source as is (UTF-8, YAML front matter).
        target.write_bytes(src.read_bytes())
    elif ext == ".txt":
        # A partner saving from Notepad on an older Windows: Windows-1252 with CRLF.
        text = src.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\n", "\r\n")
        target.write_bytes(text.encode("cp1252"))
    elif ext in PANDOC_TO:
        env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
        subprocess.run(
            [pypandoc.get_pandoc_path(), str(src), "--from", "markdown", "--to", PANDOC_TO[ext],
             "--standalone", "--output", str(target)],
            check=True, env=env, cwd=SOURCES,
        )
    else:
        raise ValueError(f"no rule for {sample.name}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "inbox",
                        help="inbox folder to write into (default: the repository's inbox/)")
    args = parser.parse_args(argv)
    for sample in SAMPLES:
        path = build(sample, args.out)
        print(f"{sample.piece}  {path.relative_to(args.out)}  ({path.stat().st_size} bytes)")
    print(f"{len(SAMPLES)} sample reports in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
