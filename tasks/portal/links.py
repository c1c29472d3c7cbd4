"""Personal links: one per partner and per reviewer, made by ``utkast invite``.

A link is ``<base>/l/<token>/``. The token is ``HMAC-SHA256(key, kind:name:nonce)`` (43
URL-safe characters, as strong as ``secrets.token_urlsafe(32)``) with a random nonce per link.
Only the token's SHA-256 is stored, with the nonce, in ``portal/links.json`` of the outputs
(never served, never listed on a page). Rotating replaces the entry, so the old token stops
at once. The key comes from ``UTKAST_PORTAL_KEY`` or ``.local/portal.key`` (made on the first
invite, mode 600, git-ignored); with it, a link can be made again from what is stored
(:func:`current_link`, for e-mails), without it nobody can, and the server needs only the
hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tasks.core.config import Config
from tasks.core.errors import UtkastError
from tasks.storage.base import MAX_NAME, Storage, safe_name

LINKS_KEY = "portal/links.json"
BASE_URL_ENV = "UTKAST_PORTAL_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
KEY_ENV = "UTKAST_PORTAL_KEY"
KEY_FILE = Path(__file__).resolve().parents[2] / ".local" / "portal.key"
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
PARTNER, REVIEWER = "partner", "reviewer"


class LinkError(UtkastError):
    """A link cannot be made: unknown partner, an unusable reviewer name, a changed key."""


@dataclass(frozen=True)
class Link:
    """Whose a personal link is (what the server knows after looking a token up)."""

    kind: str  # PARTNER or REVIEWER
    name: str  # the partner's slug, or the reviewer's name as given (NFC)
    generation: int
    created: str

    @property
    def folder(self) -> str:
        """The inbox folder this link may write: ``<slug>`` or ``feedback/<reviewer>``."""
        return self.name if self.kind == PARTNER else f"feedback/{safe_name(self.name)}"


# --- the key ------------------------------------------------------------------------------


def load_key(key_file: Path | None = None, *, create: bool = False) -> bytes | None:
    """The HMAC key: ``UTKAST_PORTAL_KEY``, else the key file (made with 32 random bytes,
    readable by its owner only, when ``create``); None when there is none."""
    value = os.environ.get(KEY_ENV, "").strip()
    if value:
        return value.encode("utf-8")
    path = Path(key_file or KEY_FILE)
    try:
        return path.read_text(encoding="ascii").strip().encode("ascii") or None
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another invite just now
        return path.read_text(encoding="ascii").strip().encode("ascii")
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip().encode("ascii")


def derive_token(key: bytes, kind: str, name: str, nonce: str) -> str:
    """The token of one link: unguessable without ``key``, different for every nonce."""
    mac = hmac.new(key, f"{kind}:{name}:{nonce}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


# --- who a link is for --------------------------------------------------------------------


def partner_slug(config: Config, name: str) -> str:
    """The registry's slug for ``name`` (a slug or an alias); LinkError when unknown."""
    partner = config.registry.find(name)
    if partner is None:
        known = ", ".join(p.slug for p in config.registry.partners)
        raise LinkError(f"{name!r} is not a partner in templates/partners.toml; known slugs: {known}")
    return partner.slug


def reviewer_name(name: str) -> str:
    """A reviewer's name as given (NFC, trimmed); LinkError when no folder name is left."""
    name = unicodedata.normalize("NFC", " ".join(name.split()))
    if not safe_name(name) or safe_name(name) != name or len(name) > MAX_NAME:
        raise LinkError(f"{name!r} cannot be a reviewer's name: it becomes their inbox folder, so no '/', '\\', "
                        f"':' and the like, no leading dot, at most {MAX_NAME} characters")
    return name


# --- the stored hashes --------------------------------------------------------------------


class LinksUnreadable(UtkastError):
    """``portal/links.json`` is not what ``utkast invite`` writes (damaged by hand or by a disk)."""


def parse_links(text: str | bytes | None) -> dict[str, dict]:
    """The links by ``kind:name`` from the stored file's text; {} when there is none."""
    if not text:
        return {}
    try:
        data = json.loads(text)
        links = data["links"] if isinstance(data, dict) else None
        if not isinstance(links, dict) or not all(isinstance(e, dict) for e in links.values()):
            raise ValueError("no object 'links' of objects")
    except (ValueError, KeyError) as exc:
        raise LinksUnreadable(f"{LINKS_KEY} in the outputs cannot be read ({exc}); restore it from a backup, "
                              f"or move it away and invite everybody again") from None
    return links


def read_links(out: Storage) -> dict[str, dict]:
    """The stored links by ``kind:name`` (hash, nonce, generation, created);
    :class:`LinksUnreadable` when the file is damaged."""
    return parse_links(out.read_text(LINKS_KEY))


def _entry_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def issue_link(out: Storage, kind: str, name: str, key: bytes, *, rotate: bool = False) -> tuple[str, Link]:
    """The token of ``kind``/``name``'s link: the current one again, or (first time, or
    ``rotate``) a new one whose hash replaces the old, so the old token stops at once.
    ``links.json`` is changed with :meth:`Storage.update`: invites and rotations at the same
    time, from any number of processes, lose no one's entry."""
    made: dict = {}

    def change(current: bytes | None) -> bytes:
        links = parse_links(current)
        entry = links.get(_entry_id(kind, name))
        if entry and not rotate:
            token = derive_token(key, kind, name, entry["nonce"])
            if not hmac.compare_digest(token_hash(token), entry["hash"]):
                raise LinkError(f"the link of {name!r} was made with another key ({KEY_ENV} or .local/portal.key "
                                "changed); make a new one with --rotate (the old link then stops working)")
            made.update(token=token, entry=entry)
            return current
        nonce = secrets.token_hex(16)
        token = derive_token(key, kind, name, nonce)
        entry = {"kind": kind, "name": name, "hash": token_hash(token), "nonce": nonce,
                 "generation": (entry or {}).get("generation", 0) + 1,
                 "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        links[_entry_id(kind, name)] = entry
        made.update(token=token, entry=entry)
        body = {"about": "Hashes of the personal links made by `utkast invite`; never served.", "links": links}
        return json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")

    out.update(LINKS_KEY, change, "application/json")
    return made["token"], _link(kind, name, made["entry"])


def _link(kind: str, name: str, entry: dict) -> Link:
    return Link(kind, name, int(entry.get("generation", 1)), str(entry.get("created", "")))


def find_link(out: Storage, token: str) -> Link | None:
    """Whose ``token`` is, or None (malformed, unknown or rotated)."""
    if not TOKEN.fullmatch(token or ""):
        return None
    wanted = token_hash(token)
    for entry in read_links(out).values():
        if hmac.compare_digest(entry.get("hash", ""), wanted) and entry.get("kind") in (PARTNER, REVIEWER):
            return _link(entry["kind"], entry["name"], entry)
    return None


def portal_base_url(configured: str = "", stack_url: str | None = None, environ=None) -> str:
    """Where the partners' and reviewers' pages answer, the one order every sender of links
    follows: ``UTKAST_PORTAL_URL`` when set, else ``configured`` (``[portal] url`` of
    settings.toml: the public address behind a TLS proxy), else ``stack_url`` (the portal of
    the stack running on this machine; :func:`flows.prefect_api.portal_url` finds it), else
    ``http://127.0.0.1:8080``."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(BASE_URL_ENV, "").strip() or configured.strip()
    if not chosen and isinstance(stack_url, str) and stack_url.startswith(("http://", "https://")):
        chosen = stack_url
    return (chosen or DEFAULT_BASE_URL).rstrip("/")


def personal_url(base_url: str, token: str) -> str:
    """The address a person opens: ``<base>/l/<token>/``."""
    return f"{base_url.rstrip('/')}/l/{token}/"


def current_link(out: Storage, base_url: str, *, partner: str | None = None, reviewer: str | None = None,
                 key_file: Path | None = None) -> str | None:
    """The current personal link of a partner (slug) or reviewer (name), made again from the
    stored nonce and the key; None without the key, without a link, or when the key changed."""
    kind, name = (PARTNER, partner) if partner else (REVIEWER, reviewer and reviewer_name(reviewer))
    key = load_key(key_file)
    entry = read_links(out).get(_entry_id(kind, name or ""))
    if key is None or entry is None:
        return None
    token = derive_token(key, kind, name, entry["nonce"])
    return personal_url(base_url, token) if hmac.compare_digest(token_hash(token), entry["hash"]) else None
