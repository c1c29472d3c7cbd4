"""Jinja environments for the templates in ``templates/``.

Markdown templates escape every value with the ``md`` filter (partner text must never
become markup); HTML templates autoescape.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from tasks.core.errors import UtkastError

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
          "oktober", "november", "december"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~^$@:\"'&=%])")


def fill(shell: str, marker: str, text: str) -> str:
    """A rendered opening (``shell``) with ``text`` where it left ``marker`` (a paragraph of its
    own): the draft's paket in its HTML page or Typst source."""
    if shell.count(marker) != 1:
        raise UtkastError("the draft's opening lost the place of the paket")
    return shell.replace(marker, text)


def md_escape(value) -> str:
    """Backslash-escape Markdown punctuation and fold line breaks into spaces."""
    text = " ".join(str(value).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def swedish_datetime(ts: float | datetime) -> str:
    """``27 november 2026 kl. 03.02`` in Stockholm time."""
    dt = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, STOCKHOLM)
    dt = dt.astimezone(STOCKHOLM)
    return f"{dt.day} {MONTHS[dt.month - 1]} {dt.year} kl. {dt:%H.%M}"


def swedish_date(ts: float | datetime | date) -> str:
    """``30 juni 2026`` (a timestamp or time in Stockholm time, or a calendar day)."""
    if isinstance(ts, date) and not isinstance(ts, datetime):
        return f"{ts.day} {MONTHS[ts.month - 1]} {ts.year}"
    dt = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, STOCKHOLM)
    dt = dt.astimezone(STOCKHOLM)
    return f"{dt.day} {MONTHS[dt.month - 1]} {dt.year}"


def stockholm_today(ts: float | None = None) -> date:
    """The calendar day in Stockholm now (or at the timestamp ``ts``)."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, STOCKHOLM).date()


class _KeptTemplates(jinja2.FileSystemBytecodeCache):
    """Jinja's bytecode cache, where a template that cannot be kept is compiled again next run
    (a full disk, a temporary folder that went away), never a failed run."""

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def compiled_cache(kind: str) -> jinja2.BytecodeCache | None:
    """Where a template compiled once is kept for the next run: Jinja's own bytecode cache, in
    a folder of this user's under the system's temporary folder that only the user may read
    (Jinja checks that, and its writes are atomic). Each run is a new process, and compiling a
    template takes 10-20 ms: the steps of a build after one change compiled five, about 0.07 s.
    The cached code is used only while the template's source is the same. ``kind`` keeps the
    two environments apart (their settings make different code of the same source). None (no
    cache) when no such folder can be had."""
    try:
        return _KeptTemplates(pattern=f"__utkast_{kind}_%s.cache")
    except (OSError, RuntimeError):  # Jinja's "Cannot determine safe temp directory"
        return None


@cache
def markdown_env(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), autoescape=False,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             bytecode_cache=compiled_cache("md"))
    env.filters["md"] = md_escape
    return env


@cache
def html_env(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), autoescape=True,
                             undefined=jinja2.StrictUndefined, bytecode_cache=compiled_cache("html"))
    env.filters["datetime_sv"] = swedish_datetime
    return env
