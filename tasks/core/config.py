"""Configuration as data: the outline, the partner registry and the settings.

The files live in ``templates/`` and are committed; each is validated on load and an
invalid value raises :class:`~tasks.core.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tasks.core.errors import ConfigError

TEMPLATES = Path(os.environ.get("UTKAST_TEMPLATES", Path(__file__).resolve().parents[2] / "templates"))

PIECE_ID = re.compile(r"^[1-9]\.[1-9]$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Piece:
    id: str
    title: str
    budget_sek: int
    paket: int


@dataclass(frozen=True)
class Paket:
    number: int
    title: str
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class Outline:
    title: str
    project: str
    programme: str
    paket: tuple[Paket, ...]

    @cached_property
    def pieces(self) -> dict[str, Piece]:
        return {p.id: p for pk in self.paket for p in pk.pieces}

    def paket_of(self, piece_id: str) -> Paket:
        return next(pk for pk in self.paket if pk.number == self.pieces[piece_id].paket)


@dataclass(frozen=True)
class Partner:
    slug: str
    name: str
    short: str
    aliases: tuple[str, ...] = ()


def fold_name(name: str) -> str:
    """Compare folder names the way a person would: NFC, case-insensitive, trimmed."""
    return unicodedata.normalize("NFC", name).strip().casefold()


@dataclass(frozen=True)
class Registry:
    partners: tuple[Partner, ...]

    @cached_property
    def _by_name(self) -> dict[str, Partner]:
        index = {}
        for p in self.partners:
            for name in (p.slug, *p.aliases):
                index[fold_name(name)] = p
        return index

    def find(self, folder: str) -> Partner | None:
        """The partner whose slug or alias is ``folder``, or None."""
        return self._by_name.get(fold_name(folder))

    def by_slug(self, slug: str) -> Partner:
        return next(p for p in self.partners if p.slug == slug)


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_expanded_bytes: int
    max_archive_entries: int
    words_per_page: int
    max_pages: int
    convert_timeout: float
    convert_memory_mb: int


@dataclass(frozen=True)
class Settings:
    limits: Limits
    formats: tuple[str, ...]
    link_seconds: int = 7 * 24 * 3600  # validity of presigned download links
    personal_action: str = "mask"  # personal data in a report: "mask" it in the draft, or "stop" publishing


@dataclass(frozen=True)
class Config:
    """Everything read from ``templates/``: passed to the steps that need it."""

    outline: Outline
    registry: Registry
    settings: Settings
    templates: Path
    fingerprint: str = field(default="")


# --- validation helpers -------------------------------------------------------------


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(str(path), "-", "file is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"not valid TOML ({exc})") from None


def _get(table: dict, key: str, kind: type, file: Path, where: str, default=...):
    if key not in table:
        if default is not ...:
            return default
        raise ConfigError(str(file), f"{where}{key}", "is required")
    value = table[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(str(file), f"{where}{key}", f"must be {kind.__name__}, got {value!r}")
    if kind is str and not value.strip():
        raise ConfigError(str(file), f"{where}{key}", "must not be empty")
    if kind is int and value <= 0:
        raise ConfigError(str(file), f"{where}{key}", f"must be a positive number, got {value}")
    return value


def load_outline(path: Path) -> Outline:
    data = _read_toml(path)
    paket_tables = _get(data, "paket", list, path, "")
    paket, seen = [], set()
    for i, table in enumerate(paket_tables):
        where = f"paket[{i}]."
        number = _get(table, "number", int, path, where)
        if paket and number <= paket[-1].number:
            raise ConfigError(str(path), f"{where}number", "paket must be numbered in increasing order")
        pieces = []
        for j, pt in enumerate(_get(table, "pieces", list, path, where)):
            pwhere = f"{where}pieces[{j}]."
            pid = _get(pt, "id", str, path, pwhere)
            if not PIECE_ID.match(pid) or not pid.startswith(f"{number}."):
                raise ConfigError(str(path), f"{pwhere}id", f"'{pid}' must look like '{number}.1' (paket.piece)")
            if pid in seen:
                raise ConfigError(str(path), f"{pwhere}id", f"'{pid}' appears twice")
            seen.add(pid)
            pieces.append(Piece(pid, _get(pt, "title", str, path, pwhere), _get(pt, "budget_sek", int, path, pwhere), number))
        paket.append(Paket(number, _get(table, "title", str, path, where), tuple(pieces)))
    if not paket:
        raise ConfigError(str(path), "paket", "the outline has no paket")
    return Outline(
        title=_get(data, "title", str, path, ""),
        project=_get(data, "project", str, path, ""),
        programme=_get(data, "programme", str, path, "", default=""),
        paket=tuple(paket),
    )


def load_registry(path: Path) -> Registry:
    data = _read_toml(path)
    partners, names = [], set()
    for i, table in enumerate(_get(data, "partner", list, path, "")):
        where = f"partner[{i}]."
        slug = _get(table, "slug", str, path, where)
        if not SLUG.match(slug):
            raise ConfigError(str(path), f"{where}slug", f"'{slug}' must be lower-case letters a-z, digits and '-'")
        aliases = _get(table, "aliases", list, path, where, default=[])
        for a in aliases:
            if not isinstance(a, str) or not a.strip():
                raise ConfigError(str(path), f"{where}aliases", f"{a!r} must be a non-empty string")
        for name in (slug, *aliases):
            if fold_name(name) in names:
                raise ConfigError(str(path), f"{where}slug", f"'{name}' is used by two partners")
            names.add(fold_name(name))
        name = _get(table, "name", str, path, where)
        partners.append(Partner(slug, name, _get(table, "short", str, path, where, default=name), tuple(aliases)))
    if not partners:
        raise ConfigError(str(path), "partner", "the registry has no partners")
    return Registry(tuple(partners))


def load_settings(path: Path) -> Settings:
    data = _read_toml(path)
    intake = _get(data, "intake", dict, path, "")
    convert = _get(data, "convert", dict, path, "")
    draft = _get(data, "draft", dict, path, "")
    mb = 1024 * 1024
    formats = _get(draft, "formats", list, path, "draft.")
    for f in formats:
        if f not in ("docx", "pdf", "html"):
            raise ConfigError(str(path), "draft.formats", f"unknown format {f!r}; use docx, pdf or html")
    limits = Limits(
        max_file_bytes=_get(intake, "max_file_mb", int, path, "intake.") * mb,
        max_expanded_bytes=_get(intake, "max_expanded_mb", int, path, "intake.") * mb,
        max_archive_entries=_get(intake, "max_archive_entries", int, path, "intake."),
        words_per_page=_get(intake, "words_per_page", int, path, "intake."),
        max_pages=_get(intake, "max_pages", int, path, "intake."),
        convert_timeout=float(_get(convert, "timeout_seconds", int, path, "convert.")),
        convert_memory_mb=_get(convert, "memory_mb", int, path, "convert."),
    )
    links = _get(data, "links", dict, path, "", default={})
    hours = _get(links, "expire_hours", int, path, "links.", default=168)
    if hours > 168:
        raise ConfigError(str(path), "links.expire_hours", f"at most 168 (7 days, the limit of S3 links), got {hours}")
    personal = _get(data, "personal_data", dict, path, "", default={})
    action = _get(personal, "action", str, path, "personal_data.", default="mask")
    if action not in ("mask", "stop"):
        raise ConfigError(str(path), "personal_data.action", f'{action!r} must be "mask" or "stop"')
    return Settings(limits=limits, formats=tuple(formats), link_seconds=hours * 3600, personal_action=action)


def load_config(templates: Path | str = TEMPLATES) -> Config:
    """Read and validate ``outline.toml``, ``partners.toml`` and ``settings.toml``."""
    templates = Path(templates)
    files = ["outline.toml", "partners.toml", "settings.toml"]
    digest = hashlib.sha256()
    for name in files:
        path = templates / name
        if path.exists():
            digest.update(path.read_bytes())
    return Config(
        outline=load_outline(templates / "outline.toml"),
        registry=load_registry(templates / "partners.toml"),
        settings=load_settings(templates / "settings.toml"),
        templates=templates,
        fingerprint=digest.hexdigest(),
    )
