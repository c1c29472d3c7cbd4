"""A build's stamp: everything a build's outcome depends on, taken when a build has ended, so
that a build of exactly the same inputs can say "nothing new" without doing the work.

The inputs are: the build's options (formats, paket, review), the day (in Stockholm), the configuration
(``templates/``), utkast's code and the installed packages (pandoc, the checker, the
personal-data libraries), the settings in the environment that change a review, and every
file of the inbox (reviewers' returned files too) and of the outputs (the run state, the
drafts, the coordinator's statuses of review points, everything derived) as listed: size
and change token. The inbox is taken as the build found it when it started
(:func:`inbox_inputs`), not as it is when the build ends: a file a partner delivers while a
build runs is not one the build read, so the stamp must not say it was, or the next build would
call it "nothing new". The flow writes the stamp under the build lock, after all its outputs and
only when a build left nothing for the next one to do (:func:`settled`: no review pending, no
file that changed while it was read, no stopped build, no e-mail waiting); the command line
compares before it starts anything (:func:`unchanged_build`). Outputs whose links expire (S3)
always get a full build, which writes the reviewers' page with fresh links.
"""

from __future__ import annotations

import hashlib
import json
import os
import site
import sys
from datetime import date
from functools import cache
from pathlib import Path
from typing import Iterable

from tasks import __version__
from tasks.core.config import Config
from tasks.core.errors import ChangedDuringRun
from tasks.draft.manifest import templates_digest
from tasks.storage.base import Storage

STAMP = "cache/stamp.json"
# Not inputs: the stamp itself, and what earlier versions kept of Prefect's task results.
NOT_INPUTS = (STAMP, "cache/results/")
# The environment that changes what a build does (the checker a review uses; where e-mail goes
# and the links it carries).
ENVIRONMENT = ("LANGUAGETOOL_URL", "LANGUAGETOOL_USERNAME", "UTKAST_LT_DATA_DIR", "UTKAST_SMTP_URL",
               "UTKAST_SMTP_USER", "UTKAST_PORTAL_URL")
SECRETS = ("LANGUAGETOOL_API_KEY", "UTKAST_SMTP_PASSWORD")  # only a digest of them goes in, mixed with the rest


@cache
def code_digest() -> str:
    """utkast's own code (Python and Lua) and the installed packages' names and versions."""
    digest = hashlib.sha256(__version__.encode())
    root = Path(__file__).resolve().parents[2]
    for folder in ("tasks", "flows"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".py", ".lua") and path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    for folder in sorted({p for p in [*site.getsitepackages(), site.getusersitepackages()] if p}):
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        digest.update("\n".join(names).encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def inbox_inputs(inbox: Storage) -> list[tuple[str, int, str]]:
    """Every file of the inbox (reviewers' returned files too) as listed now: key, size and
    change token, in key order. Taken when a build starts reading the inbox."""
    return sorted((entry.key, entry.size, entry.etag) for entry in inbox.list())


def build_inputs(inbox: list[tuple[str, int, str]], out: Storage, config: Config, options: dict) -> str:
    """A digest of everything a build's outcome depends on (see the module docstring), with the
    inbox as ``inbox`` (:func:`inbox_inputs`) lists it."""
    digest = hashlib.sha256()

    def add(*parts) -> None:
        digest.update(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")

    add("options", options)  # the day among them: reminders and "försenad" move with the date
    add("config", str(config.templates), config.fingerprint, templates_digest(config))
    add("code", code_digest())
    add("environment", [os.environ.get(k) for k in ENVIRONMENT],
        [hashlib.sha256(os.environ.get(k, "").encode()).hexdigest() for k in SECRETS])
    for key, size, etag in inbox:
        add("inbox", key, size, etag)
    for entry in sorted(out.list(), key=lambda e: e.key):
        if not entry.key.startswith(NOT_INPUTS):
            add("out", entry.key, entry.size, entry.etag)
    return digest.hexdigest()


def build_options(formats: list[str], packages: list[int] | None, review: bool, today: date) -> dict:
    """A build's options as the stamp compares them, with the day it takes as today."""
    return {"formats": sorted(formats), "packages": sorted(packages) if packages else None, "review": bool(review),
            "today": today.isoformat()}


def settled(files: Iterable, pending: Iterable[str], feedback: dict, email=None, problems: Iterable = ()) -> bool:
    """Whether a build left nothing for the next one to do, so that the next build of the same
    inputs may say "nothing new" without doing the work. ``files``: the inbox's files with their
    verdicts; ``pending``: reports whose language review is pending; ``feedback``: the harvest of
    reviewers' files; ``email``: the run's :class:`tasks.notify.outbox.Delivery` (None: e-mail
    off); ``problems``: formats the draft could not be made in."""
    changed = any(f.reason_code == ChangedDuringRun.code for f in files)
    waiting = bool(email and email.waiting)  # messages the next run must try again
    return not list(pending) and not changed and not feedback.get("status_problems") and not waiting \
        and not list(problems)


def save_stamp(inbox: list[tuple[str, int, str]], out: Storage, config: Config, options: dict,
               summary: dict) -> None:
    """Note that a build with ``options`` (:func:`build_options`) that found the inbox as
    ``inbox`` (:func:`inbox_inputs`, taken when it started) ended with ``summary``, on the
    outputs as they are now. Call under the build lock, after the build's last write."""
    if out.links_expire:
        return
    stamp = {"inputs": build_inputs(inbox, out, config, options), "summary": summary}
    out.write(STAMP, json.dumps(stamp, ensure_ascii=False).encode("utf-8"), "application/json")


def forget_stamp(out: Storage) -> None:
    """A build that must be done fully next time (it left work, or stopped)."""
    out.delete(STAMP)


def unchanged_build(inbox: Storage, out: Storage, config: Config, options: dict) -> dict | None:
    """The summary of the last build when nothing it depends on has changed since it ended
    (it is what a build with ``options`` (:func:`build_options`) would end with now, publishing
    nothing new); else None."""
    if out.links_expire:
        return None
    try:
        stamp = json.loads(out.read_text(STAMP) or "null")
    except ValueError:
        return None
    if not isinstance(stamp, dict) or not isinstance(stamp.get("summary"), dict):
        return None
    if stamp.get("inputs") != build_inputs(inbox_inputs(inbox), out, config, options):
        return None
    return {**stamp["summary"], "published": False, "converted": 0, "changes": None}
