"""Configuration as data: the outline, the partner registry and the settings.

The files live in ``templates/`` and are committed. Each is read into a pydantic model
(:class:`Table` refuses unknown keys and converts nothing), and every problem raises
:class:`~tasks.core.errors.ConfigError` naming the file, the dotted key and what is allowed.
A new table is one more :class:`Table` subclass and one field on the table that holds it; a
new file, one root model read with :func:`read_config`. ``review.toml`` and
``personuppgifter.toml`` have their models next to their loaders (``tasks/review/settings.py``,
``tasks/personal/rules.py``); ``check_templates`` there reads every file at once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
import types
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from tasks.core.errors import ConfigError
from tasks.core.formats import DraftFormat

CHECKOUT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def default_templates() -> Path:
    """The configuration folder when none is named: ``UTKAST_TEMPLATES``, else ``templates/`` of
    the checkout. Read when called, not when imported: a command run in the stack's warm process
    (flows/warm.py) brings its own environment to modules loaded before it."""
    return Path(os.environ.get("UTKAST_TEMPLATES") or CHECKOUT_TEMPLATES)

PIECE_ID = re.compile(r"^[1-9]\.[1-9]$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# An alias is another folder name of a partner: letters (å, ä, ö, é … too), digits and '-',
# starting with a letter or digit; no '/', '.', space or anything that leaves the folder.
ALIAS = re.compile(r"^[^\W_](?:[^\W_]|-)*$")
# Inbox folders that are no partner's: reviewers hand back drafts in feedback/<name>/.
RESERVED_FOLDERS = frozenset({"feedback"})


# --- reading a file into a model ----------------------------------------------------------


class Table(BaseModel):
    """A table of a file in ``templates/``: unknown keys are refused (a misspelt key is an
    error, not a silent default), values are taken as written (a string is not a number,
    ``true`` is not 1), and the result is immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    # Derived values are plain properties, not cached: model_copy(update=...) would keep a
    # cached value computed from the old fields.
    # Appended to the message for an unknown key in this table.
    unknown_key_hint: ClassVar[str] = ""


class Invalid(ValueError):
    """A problem found by a check of our own, raised in a validator; ``at`` is the key below
    the validated value it is about (``Invalid("'1.2' appears twice", "paket", 0, "pieces", 2, "id")``
    from a validator of the whole outline)."""

    def __init__(self, problem: str, *at: str | int):
        super().__init__(problem)
        self.at = at


def _not_blank(value: str) -> str:
    if not value.strip():
        raise Invalid("must not be empty")
    return value


def _is_address(value: str) -> str:
    """An e-mail address as a person writes it (``namn@example.org``); nothing else."""
    if not re.fullmatch(r"[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+", value):
        raise Invalid(f"'{value}' is not an e-mail address (name@example.org)")
    return value


def _nfc_name(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise Invalid("must not be empty")
    return value


T = TypeVar("T")
# A TOML array, kept as a tuple; its items are checked as strictly as everything else.
Array = Annotated[tuple[T, ...], Strict(False)]
Text = Annotated[str, AfterValidator(_not_blank)]
Positive = Annotated[int, Field(gt=0)]
Address = Annotated[str, AfterValidator(_is_address)]
Name = Annotated[str, AfterValidator(_nfc_name)]  # a person's name as given, NFC

M = TypeVar("M", bound=BaseModel)

# What a TOML value must be, for pydantic's type errors.
_EXPECTED = {
    "int_type": "an integer", "string_type": "a string", "bool_type": "true or false",
    "float_type": "a number", "tuple_type": "an array", "list_type": "an array",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
    "date_type": "a date (YYYY-MM-DD)", "datetime_type": "a date and time",
}


def shown(path: Path) -> str:
    """A file as the coordinator knows it: relative to the working folder when inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def dotted(loc: tuple) -> str:
    """``("paket", 2, "pieces", 0, "budget_sek")`` -> ``paket[2].pieces[0].budget_sek``."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "-"


def _bare(kind: Any) -> Any:
    while get_origin(kind) is Annotated:
        kind = get_args(kind)[0]
    return kind


def _step(kind: Any, part: str | int) -> Any:
    """The type found at ``part`` (a key or an index) inside a value of type ``kind``."""
    kind = _bare(kind)
    if get_origin(kind) in (Union, types.UnionType):
        found = [t for t in (_step(arg, part) for arg in get_args(kind)) if t is not None]
        return found[0] if found else None
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return next((f.annotation for name, f in kind.model_fields.items() if part in (name, f.alias)), None)
    args = get_args(kind)
    if get_origin(kind) in (tuple, list) and args:
        return args[0]
    if get_origin(kind) is dict and len(args) == 2:
        return args[1]
    return None


def type_at(model: type[BaseModel], loc: tuple) -> Any:
    """The type of the value at ``loc`` in a file read into ``model`` (None if unknown; an
    optional table, ``Schedule | None``, as the table)."""
    kind: Any = model
    for part in loc:
        kind = _step(kind, part)
    kind = _bare(kind)
    if get_origin(kind) in (Union, types.UnionType):
        kind = next((_bare(a) for a in get_args(kind) if a is not type(None)), None)
    return kind


def keys_of(kind: Any) -> list[str]:
    """The keys a table takes, as written in the file: a model's keys, or the fixed keys of
    a table of values (``dict[Literal[...], ...]``); empty when any key will do."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return [f.alias or name for name, f in kind.model_fields.items()]
    if get_origin(kind) is dict:
        key = _bare(get_args(kind)[0])
        if get_origin(key) is Literal:
            return [str(k) for k in get_args(key)]
    return []


def _given(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()  # as written in TOML
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(error: dict, model: type[BaseModel]) -> tuple[str, str]:
    """The dotted key and, in words, what is wrong with it and what is allowed, for one
    error of ``model.model_validate``."""
    ctx = error.get("ctx") or {}
    loc = tuple(error["loc"]) + getattr(ctx.get("error"), "at", ())
    kind, given = error["type"], error.get("input")
    if loc and loc[-1] == "[key]":  # a key outside the fixed keys of a table of values
        loc, kind = loc[:-1], "extra_forbidden"
    if kind == "extra_forbidden":
        table = type_at(model, loc[:-1])
        allowed = keys_of(table)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        what = "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
        what += f"; allowed keys: {', '.join(allowed)}" if allowed else "; this table takes no keys"
        if getattr(table, "unknown_key_hint", ""):
            what += f" ({table.unknown_key_hint})"
    elif kind == "missing":
        what = "is required"
    elif kind in _EXPECTED:
        what = f"must be {_EXPECTED[kind]}, got {_given(given)}"
    elif kind == "literal_error":
        what = f"must be {ctx['expected']}, got {_given(given)}"
    elif kind == "greater_than" and ctx.get("gt") == 0:
        what = f"must be a positive number, got {_given(given)}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": ("greater than", "gt"), "greater_than_equal": ("at least", "ge"),
                 "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}[kind]
        what = f"must be {bound[0]} {ctx[bound[1]]}, got {_given(given)}"
    elif kind == "too_short":
        what = "must not be empty" if ctx.get("min_length") == 1 else f"needs at least {ctx['min_length']} entries"
    elif kind == "value_error":
        what = str(ctx["error"])
    else:
        what = error["msg"]
    return dotted(loc), what


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(shown(path), "-", "file is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(shown(path), "-", f"not valid TOML ({exc})") from None


def read_config(path: Path, model: type[M]) -> M:
    """Read the TOML file ``path`` into ``model``; a missing file, bad TOML, an unknown key or
    a wrong value raises :class:`ConfigError` naming the file, the key and what is allowed."""
    data = _read_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # One problem at a time; an unknown key first, as it is usually the misspelt form of
        # the key reported missing.
        first = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden" and e["loc"][-1:] != ("[key]",))
        key, what = describe(first, model)
        raise ConfigError(shown(path), key, what) from None


# --- outline.toml ---------------------------------------------------------------------------


class Piece(Table):
    """One commissioned report ("delrapport") of the outline: ``1.3``, its title, its budget;
    its due date and the partners commissioned for it when they differ from its paket's."""

    id: str
    title: Text
    budget_sek: Positive
    due: date | None = None
    commissioned: Array[str] | None = None

    @field_validator("id")
    @classmethod
    def _looks_like_a_piece(cls, value: str) -> str:
        if not PIECE_ID.match(value):
            raise Invalid(f"'{value}' must look like '1.1' (paket.piece)")
        return value

    @property
    def paket(self) -> int:
        """The number of the paket the piece belongs to."""
        return int(self.id.partition(".")[0])


class Paket(Table):
    """A work package: its number, title and pieces; the date its pieces are due and the
    partners (slugs) commissioned for them, unless a piece says otherwise."""

    number: Positive
    title: Text
    due: date | None = None
    commissioned: Array[str] = ()
    pieces: Array[Piece]


class Schedule(Table):
    """``[schedule]``: the project year (every due date lies within it) and the day from which
    reviewers hear of each new draft (the external review in August)."""

    start: date
    end: date
    review_from: date | None = None
    deadline: date | None = None  # when partners deliver, where no piece is commissioned to them

    @model_validator(mode="after")
    def _in_order(self) -> Schedule:
        if self.end < self.start:
            raise Invalid(f"must not be before start ({self.start})", "end")
        for name in ("review_from", "deadline"):
            when = getattr(self, name)
            if when and not self.start <= when <= self.end:
                raise Invalid(f"must lie within the project year ({self.start} to {self.end})", name)
        return self


class Outline(Table):
    """``outline.toml``: the application's title, its schedule and its paket."""

    title: Text
    project: Text
    programme: Text = ""
    schedule: Schedule | None = None
    paket: Array[Paket] = Field(min_length=1)

    @model_validator(mode="after")
    def _numbered_in_order_and_once(self) -> Outline:
        seen = set()
        for i, pk in enumerate(self.paket):
            if i and pk.number <= self.paket[i - 1].number:
                raise Invalid("paket must be numbered in increasing order", "paket", i, "number")
            for j, piece in enumerate(pk.pieces):
                if piece.paket != pk.number:
                    raise Invalid(f"'{piece.id}' must look like '{pk.number}.1' (paket.piece)",
                                  "paket", i, "pieces", j, "id")
                if piece.id in seen:
                    raise Invalid(f"'{piece.id}' appears twice", "paket", i, "pieces", j, "id")
                seen.add(piece.id)
        for at, due in self._dates():
            if self.schedule is None:
                raise Invalid("a due date needs the project year: [schedule] start and end", *at)
            if not self.schedule.start <= due <= self.schedule.end:
                raise Invalid(f"{due} is outside the project year ({self.schedule.start} to {self.schedule.end})", *at)
        return self

    def _dates(self):
        for i, pk in enumerate(self.paket):
            if pk.due:
                yield ("paket", i, "due"), pk.due
            for j, piece in enumerate(pk.pieces):
                if piece.due:
                    yield ("paket", i, "pieces", j, "due"), piece.due

    @property
    def pieces(self) -> dict[str, Piece]:
        """Every piece by its id, in outline order."""
        return {p.id: p for pk in self.paket for p in pk.pieces}

    def paket_of(self, piece_id: str) -> Paket:
        """The paket the piece ``piece_id`` belongs to."""
        return next(pk for pk in self.paket if pk.number == self.pieces[piece_id].paket)

    def due(self, piece_id: str) -> date | None:
        """The date the piece is due: its own, else its paket's (None: no date)."""
        return self.pieces[piece_id].due or self.paket_of(piece_id).due

    def commissioned(self, piece_id: str) -> tuple[str, ...]:
        """The slugs of the partners commissioned for the piece: its own list, else its paket's."""
        own = self.pieces[piece_id].commissioned
        return own if own is not None else self.paket_of(piece_id).commissioned


# --- partners.toml --------------------------------------------------------------------------


def fold_name(name: str) -> str:
    """Compare folder names the way a person would: NFC, case-insensitive, trimmed."""
    return unicodedata.normalize("NFC", name).strip().casefold()


class Partner(Table):
    """One partner: its folder (slug), name, short name (default: the name) and other folder names."""

    slug: str
    name: Text
    short: Text
    aliases: Array[Text] = ()
    email: Array[Address] = ()  # where receipts, review notices and reminders go

    @model_validator(mode="before")
    @classmethod
    def _short_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "short" not in data and "name" in data:
            data = {**data, "short": data["name"]}
        return data

    @field_validator("slug")
    @classmethod
    def _is_a_slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise Invalid(f"'{value}' must be lower-case letters a-z, digits and '-'")
        if value in RESERVED_FOLDERS:
            raise Invalid(f"'{value}' is a reserved folder of the inbox (reviewers' files), not a partner's")
        return value

    @field_validator("aliases")
    @classmethod
    def _are_folder_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alias in value:
            if not ALIAS.match(alias):
                raise Invalid(f"'{alias}' must be letters, digits and '-' (it names a folder of the inbox)")
            if fold_name(alias) in RESERVED_FOLDERS:
                raise Invalid(f"'{alias}' is a reserved folder of the inbox (reviewers' files), not a partner's")
        return value


class Registry(Table):
    """``partners.toml``: the partners, each once (``[[partner]]`` tables)."""

    partners: Array[Partner] = Field(alias="partner", min_length=1)

    @model_validator(mode="after")
    def _names_are_unique(self) -> Registry:
        names = set()
        for i, p in enumerate(self.partners):
            for where, name in [(("slug",), p.slug), *((("aliases", k), a) for k, a in enumerate(p.aliases))]:
                if fold_name(name) in names:
                    raise Invalid(f"'{name}' is used by two partners", "partner", i, *where)
                names.add(fold_name(name))
        return self

    @cached_property
    def folder_names(self) -> dict[str, Partner]:
        """Every slug and alias, folded, to its partner (made once: screening asks it for every file)."""
        return {fold_name(name): p for p in self.partners for name in (p.slug, *p.aliases)}

    def find(self, folder: str) -> Partner | None:
        """The partner whose slug or alias is ``folder``, or None."""
        return self.folder_names.get(fold_name(folder))

    def by_slug(self, slug: str) -> Partner:
        """The partner with this slug."""
        return next(p for p in self.partners if p.slug == slug)


# --- settings.toml --------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The intake and conversion limits, in the units the code uses (bytes, seconds)."""

    max_file_bytes: int
    max_folder_bytes: int
    max_expanded_bytes: int
    max_archive_entries: int
    words_per_page: int
    max_pages: int
    convert_timeout: float
    convert_memory_mb: int


class IntakeSettings(Table):
    """``[intake]``: limits checked before any parser sees a file (each with a sane upper
    bound, so a typo of a few zeros is an error, not a limit nobody meant)."""

    max_file_mb: Annotated[int, Field(gt=0, le=1024)]
    max_expanded_mb: Annotated[int, Field(gt=0, le=8192)]
    max_archive_entries: Annotated[int, Field(gt=0, le=100_000)]
    words_per_page: Annotated[int, Field(gt=0, le=5000)]
    max_pages: Annotated[int, Field(gt=0, le=100_000)]
    max_upload_seconds: Annotated[int, Field(gt=0, le=7200)] = 600
    max_folder_mb: Annotated[int, Field(gt=0, le=1_000_000)] = 500

    @model_validator(mode="after")
    def _folder_holds_a_file(self) -> IntakeSettings:
        if self.max_folder_mb < self.max_file_mb:
            raise Invalid(f"must be at least max_file_mb ({self.max_file_mb}): no file would fit", "max_folder_mb")
        return self


class ConvertSettings(Table):
    """``[convert]``: limits of one pandoc conversion."""

    timeout_seconds: Annotated[int, Field(gt=0, le=3600)]
    memory_mb: Annotated[int, Field(gt=0, le=65536)]


class DraftSettings(Table):
    """``[draft]``: the formats published, in order."""

    formats: Array[DraftFormat] = Field(min_length=1)


class LinkSettings(Table):
    """``[links]``: how long presigned download links live."""

    expire_hours: Positive = 168

    @field_validator("expire_hours")
    @classmethod
    def _within_s3_limit(cls, value: int) -> int:
        if value > 168:
            raise Invalid(f"at most 168 (7 days, the limit of S3 links), got {value}")
        return value


class PersonalDataSettings(Table):
    """``[personal_data]``: a report with personal data is masked in the draft, or stops it."""

    action: Literal["mask", "stop"] = "mask"


class EmailSettings(Table):
    """``[email]``: the SMTP server (``UTKAST_SMTP_URL`` overrides it; the password only ever
    comes from ``UTKAST_SMTP_PASSWORD``), the sender, on/off, reminders, how long a receipt
    waits for the language review of its file."""

    enabled: bool = True
    server: str = ""
    sender: Text = "Utkast <utkast@localhost>"
    remind_days_before: int = Field(7, ge=0)
    timeout_seconds: Positive = 20
    hold_receipt_seconds: int = Field(60, ge=0, le=3600)

    @field_validator("server")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        parts = _url(value, ("smtp", "smtps"), "smtp://host:port or smtps://host:port")
        if parts and parts.password is not None:
            raise Invalid("must not hold a password: it comes from the environment (UTKAST_SMTP_PASSWORD)")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        _is_address(parseaddr(value)[1] or value)
        return value


class PortalSettings(Table):
    """``[portal]``: the address people open the partners' and reviewers' pages at (behind a
    TLS proxy in production); empty: the running stack's portal, else http://127.0.0.1:8080.
    ``UTKAST_PORTAL_URL`` overrides it."""

    url: str = ""

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        parts = _url(value, ("http", "https"), "https://host or http://host:port")
        if parts and (parts.username is not None or parts.query or parts.fragment):
            raise Invalid(f"'{value}' must be a plain address: no user name, no ?query, no #part")
        return value.rstrip("/")


def _url(value: str, schemes: tuple[str, ...], looks: str):
    """``value`` split (None when empty): one of ``schemes``, a host and a numeric port if any."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise Invalid(f"'{value}' must look like {looks}")
    try:
        parts.port
    except ValueError:
        raise Invalid(f"'{value}' has a port that is not a number") from None
    return parts


class Settings(Table):
    """``settings.toml``."""

    intake: IntakeSettings
    convert: ConvertSettings
    draft: DraftSettings
    links: LinkSettings = LinkSettings()
    personal_data: PersonalDataSettings = PersonalDataSettings()
    email: EmailSettings = EmailSettings()
    portal: PortalSettings = PortalSettings()

    @property
    def limits(self) -> Limits:
        """The limits in bytes and seconds."""
        mb = 1024 * 1024
        return Limits(
            max_file_bytes=self.intake.max_file_mb * mb,
            max_folder_bytes=self.intake.max_folder_mb * mb,
            max_expanded_bytes=self.intake.max_expanded_mb * mb,
            max_archive_entries=self.intake.max_archive_entries,
            words_per_page=self.intake.words_per_page,
            max_pages=self.intake.max_pages,
            convert_timeout=float(self.convert.timeout_seconds),
            convert_memory_mb=self.convert.memory_mb,
        )

    @property
    def formats(self) -> tuple[str, ...]:
        """The draft formats published by default."""
        return self.draft.formats

    @property
    def link_seconds(self) -> int:
        """Validity of presigned download links."""
        return self.links.expire_hours * 3600

    @property
    def personal_action(self) -> str:
        """Personal data in a report: "mask" it in the draft, or "stop" publishing."""
        return self.personal_data.action


# --- people.toml ----------------------------------------------------------------------------


class Person(Table):
    """Someone who is not a partner: their name as given and their addresses."""

    name: Name
    email: Array[Address] = ()


class People(Table):
    """``people.toml``: the coordinator (failed runs; named in partners' e-mail as the
    contact) and the external reviewers (told of each new draft)."""

    coordinator: Person = Person(name="Samordnaren")
    reviewers: Array[Person] = Field((), alias="reviewer")

    @model_validator(mode="after")
    def _each_reviewer_once(self) -> People:
        seen = set()
        for i, person in enumerate(self.reviewers):
            if fold_name(person.name) in seen:
                raise Invalid(f"'{person.name}' appears twice", "reviewer", i, "name")
            seen.add(fold_name(person.name))
        return self


# --- everything -----------------------------------------------------------------------------

# The files read into Config. Its fingerprint leaves out what only e-mail uses (addresses,
# due dates, commissions, reviewers, [email], [portal]), so configuring e-mail neither screens the
# inbox again nor publishes a new draft.
CONFIG_FILES = ("outline.toml", "partners.toml", "settings.toml", "people.toml")
_NOT_IN_FINGERPRINT = {
    "outline": {"schedule": True, "paket": {"__all__": {"due": True, "commissioned": True,
                                                        "pieces": {"__all__": {"due", "commissioned"}}}}},
    "registry": {"partners": {"__all__": {"email"}}},
    "settings": {"email": True, "portal": True},
}


@dataclass(frozen=True)
class Config:
    """Everything read from ``templates/``: passed to the steps that need it."""

    outline: Outline
    registry: Registry
    settings: Settings
    templates: Path
    fingerprint: str = field(default="")
    people: People = field(default_factory=People)


def load_outline(path: Path) -> Outline:
    """Read and validate ``outline.toml``."""
    return read_config(path, Outline)


def load_registry(path: Path) -> Registry:
    """Read and validate ``partners.toml``."""
    return read_config(path, Registry)


def load_settings(path: Path) -> Settings:
    """Read and validate ``settings.toml``."""
    return read_config(path, Settings)


def load_people(path: Path) -> People:
    """Read and validate ``people.toml`` (no file: no reviewers, the coordinator unnamed)."""
    return read_config(path, People) if path.exists() else People()


def check_commissions(outline: Outline, registry: Registry, path: Path) -> None:
    """Every partner named as commissioned for a piece is in ``partners.toml``."""
    for i, pk in enumerate(outline.paket):
        places = [(("paket", i, "commissioned"), pk.commissioned)]
        places += [(("paket", i, "pieces", j, "commissioned"), p.commissioned or ()) for j, p in enumerate(pk.pieces)]
        for at, slugs in places:
            for k, slug in enumerate(slugs):
                if registry.find(slug) is None or registry.find(slug).slug != slug:
                    raise ConfigError(shown(path), dotted((*at, k)),
                                      f"'{slug}' is not a partner's slug in partners.toml")


def content_fingerprint(outline: Outline, registry: Registry, settings: Settings) -> str:
    """The configuration's identity without what only e-mail uses (see ``CONFIG_FILES``)."""
    parts = {name: model.model_dump(mode="json", exclude=_NOT_IN_FINGERPRINT[name])
             for name, model in (("outline", outline), ("registry", registry), ("settings", settings))}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def load_config(templates: Path | str | None = None) -> Config:
    """Read and validate ``outline.toml``, ``partners.toml``, ``settings.toml`` and
    ``people.toml`` (``templates``: default :func:`default_templates`)."""
    templates = Path(templates or default_templates())
    outline = load_outline(templates / "outline.toml")
    registry = load_registry(templates / "partners.toml")
    check_commissions(outline, registry, templates / "outline.toml")
    settings = load_settings(templates / "settings.toml")
    return Config(
        outline=outline,
        registry=registry,
        settings=settings,
        templates=templates,
        fingerprint=content_fingerprint(outline, registry, settings),
        people=load_people(templates / "people.toml"),
    )
