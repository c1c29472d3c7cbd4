"""A build's stamp: everything a build's outcome depends on, taken when a build has ended, so
that a build of exactly the same inputs can say "nothing new" without doing the work.

The inputs are: the build's options (formats, paket, review), the day (in Stockholm), the configuration
(``templates/``), utkast's code and the installed packages (pandoc, the checker, the
personal-data libraries), the settings in the environment that change a review, and every
file of the inbox (reviewers' returned files too) and of the outputs (the run state, the
drafts, the coordinator's statuses of review points, everything derived) as listed: size
and change token. The inbox, and the files of the outputs that people edit (the coordinator's
statuses of review points), are taken as the build found them when it started
(:func:`inputs_found`), not as they are when the build ends: a file a partner delivers or a
status the coordinator sets while a build runs is not one the build read, so the stamp must not
say it was, or the next build would call it "nothing new". The flow writes the stamp under the
build lock, after all its outputs and only when a build left nothing for the next one to do
(:func:`settled`: no review pending, no file that changed while it was read, no stopped build,
no e-mail waiting); the command line compares before it starts anything
(:func:`unchanged_build`). Outputs whose links expire (S3) always get a full build, which
writes the reviewers' page with fresh links.
"""

from __future__ import annotations

import hashlib
import json
import os
import site
import sys
from datetime import date
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Found:
    """What a build starts from, as listed when it starts: the inbox's files (key, size and
    change token, in key order) and the outputs' files people edit (key: (size, change token),
    or None where there was no such file)."""

    inbox: list[tuple[str, int, str]]
    edited: dict[str, tuple[int, str] | None] = field(default_factory=dict)


def inputs_found(inbox: Storage, out: Storage, edited: Iterable[str] = ()) -> Found:
    """Every file of the inbox (reviewers' returned files too) and the outputs' files in
    ``edited`` (keys of files people write while builds run), as listed now. Taken when a build
    starts, under the build lock, before anything reads them."""
    def entry(key: str) -> tuple[int, str] | None:  # listing its folder: a folder's prefix is one in both storages
        return next(((e.size, e.etag) for e in out.list(key.rpartition("/")[0]) if e.key == key), None)

    return Found(sorted((e.key, e.size, e.etag) for e in inbox.list()), {key: entry(key) for key in edited})


def build_inputs(found: Found, out: Storage, config: Config, options: dict) -> str:
    """A digest of everything a build's outcome depends on (see the module docstring), with the
    inbox and the files people edit as ``found`` (:func:`inputs_found`) lists them and the rest
    of the outputs as they are now."""
    digest = hashlib.sha256()

    def add(*parts) -> None:
        digest.update(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")

    add("options", options)  # the day among them: reminders and "försenad" move with the date
    add("config", str(config.templates), config.fingerprint, templates_digest(config))
    add("code", code_digest())
    add("environment", [os.environ.get(k) for k in ENVIRONMENT],
        [hashlib.sha256(os.environ.get(k, "").encode()).hexdigest() for k in SECRETS])
    for key, size, etag in found.inbox:
        add("inbox", key, size, etag)
    outputs = {e.key: (e.size, e.etag) for e in out.list() if not e.key.startswith(NOT_INPUTS)}
    outputs.update(found.edited)
    for key in sorted(outputs):
        if outputs[key] is not None:
            add("out", key, *outputs[key])
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


def save_stamp(found: Found, out: Storage, config: Config, options: dict, summary: dict) -> None:
    """Note that a build with ``options`` (:func:`build_options`) that started from ``found``
    (:func:`inputs_found`) ended with ``summary``, on the outputs as they are now. Call under
    the build lock, after the build's last write."""
    if out.links_expire:
        return
    stamp = {"inputs": build_inputs(found, out, config, options), "summary": summary}
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
    if stamp.get("inputs") != build_inputs(inputs_found(inbox, out), out, config, options):
        return None
    return {**stamp["summary"], "published": False, "converted": 0, "changes": None}
