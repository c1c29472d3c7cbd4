"""Which files utkast takes from partners: the one table of accepted formats, and the one
check of names that are never read (hidden files, Word's lock files); and the formats a draft
is published in, with their Swedish names.

Everything that names or checks an accepted format reads :data:`ACCEPTED`: screening (the
extension and what its bytes must hold), the conversion (pandoc's reader, handed to
``lua/normalise.lua`` with each file), the Swedish reasons for a rejection, the e-mails, the
partner's page (the file field's list and its ``accept`` attribute) and the command line.
A new format is a new row here, when pandoc has a reader for it (docs/extending.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence


@dataclass(frozen=True)
class Accepted:
    """One accepted format."""

    kind: str  # what the report is called from here on (the job's format, the review's reader)
    extensions: tuple[str, ...]  # lower case; the first is the one named to partners
    content: str  # what its bytes must be: "zip" (checked member by member), "rtf" or "text"
    reader: str  # pandoc's reader, with its extensions switched on or off
    name_sv: str = ""  # what partners call it, when more than the extension says ("Word")


ACCEPTED: tuple[Accepted, ...] = (
    Accepted("docx", (".docx",), "zip", "docx", "Word"),
    Accepted("odt", (".odt",), "zip", "odt", "OpenDocument"),
    Accepted("rtf", (".rtf",), "rtf", "rtf"),
    # Raw HTML and raw blocks are recognised (so the filter drops them) instead of showing as
    # literal tags; raw TeX stays text (the reader must never act on \input). Front matter is
    # read (and removed) by utkast, so no YAML reaches pandoc.
    Accepted("md", (".md", ".markdown"), "text", "markdown-smart-raw_tex-yaml_metadata_block"),
    Accepted("txt", (".txt",), "text",
             "markdown-smart-raw_html-raw_attribute-raw_tex-yaml_metadata_block-tex_math_dollars-pipe_tables"),
    Accepted("html", (".html", ".htm"), "text", "html"),
)
PREFERRED = "docx"  # what partners are asked for first: it keeps the most of their document
BY_EXTENSION = {ext: row for row in ACCEPTED for ext in row.extensions}
BY_KIND = {row.kind: row for row in ACCEPTED}


def accepted_format(extension: str) -> Accepted | None:
    """The row of ``extension`` (``.DOCX`` or ``.docx``), or None when it is not accepted."""
    return BY_EXTENSION.get(extension.lower())


def named_extensions() -> list[str]:
    """The extensions named to partners, preferred first: ``.docx``, ``.odt``, ..."""
    return [row.extensions[0] for row in ACCEPTED]


def swedish_list(items: Sequence[str]) -> str:
    """``a, b och c``."""
    return " och ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def others_sv() -> str:
    """The formats besides the preferred one, for a Swedish sentence: ``.odt, .rtf, ... och .html``."""
    return swedish_list([row.extensions[0] for row in ACCEPTED if row.kind != PREFERRED])


def accepted_sv() -> str:
    """All accepted formats for a Swedish sentence, the preferred one marked:
    ``Word (.docx, helst), OpenDocument (.odt), .rtf, .md, .txt och .html``."""
    names = []
    for row in ACCEPTED:
        ext = row.extensions[0] + (", helst" if row.kind == PREFERRED else "")
        names.append(f"{row.name_sv} ({ext})" if row.name_sv else ext)
    return swedish_list(names)


@dataclass(frozen=True)
class Draft:
    """One format a draft is published in."""

    label: str  # what partners and reviewers call it ("Ladda ner utkastet som Word-fil")
    mime: str  # its media type, when stored and when the portal serves it


# The formats a draft is published in, in order: the one table the settings, the build, the
# catalogue, the pages, the portal, the e-mails and the flow's artifacts read.
DRAFT_FORMATS: dict[str, Draft] = {
    "docx": Draft("Word-fil", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "pdf": Draft("PDF", "application/pdf"),
    "html": Draft("webbsida", "text/html; charset=utf-8"),
}
DraftFormat = Literal[tuple(DRAFT_FORMATS)]  # for settings and flow parameters


def draft_label(fmt: str, *, capital: bool = False) -> str:
    """What a draft format is called in Swedish (``Word-fil``), capitalised for the start of a line."""
    label = DRAFT_FORMATS[fmt].label if fmt in DRAFT_FORMATS else fmt.upper()
    return label[:1].upper() + label[1:] if capital else label


def draft_mime(fmt: str) -> str:
    """The media type of a file of one of the draft's formats (by its extension), else a plain download."""
    return DRAFT_FORMATS[fmt].mime if fmt in DRAFT_FORMATS else "application/octet-stream"


def hidden(parts: Sequence[str]) -> bool:
    """Whether a file whose path is ``parts`` (folders, then the file's name) is never read: a
    hidden file or folder (a name starting with ``.``) or a lock file Word leaves next to an
    open document (``~$``)."""
    *folders, name = parts
    return name.startswith((".", "~$")) or any(folder.startswith(".") for folder in folders)
