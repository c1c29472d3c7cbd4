"""The personal-data rules: ``templates/personuppgifter.toml``, validated, plus the partners'
names (which are never a participant's name)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from pydantic import field_validator, model_validator

from tasks.core.config import Array, Config, Invalid, Registry, Table, Text, read_config

RULES_FILE = "personuppgifter.toml"
# Bump when detection or masking changes in code: drafts and reviews are then made anew.
DETECTOR_VERSION = "2"  # 2: names in capitals after a marker; file names
# Number types (libphonenumber's names).
PhoneType = Literal["FIXED_LINE", "MOBILE", "FIXED_LINE_OR_MOBILE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST",
                    "VOIP", "PERSONAL_NUMBER", "PAGER", "UAN", "VOICEMAIL", "UNKNOWN"]
PHONE_TYPES = get_args(PhoneType)


# --- personuppgifter.toml ----------------------------------------------------------------------


class Kind(Table):
    """How a kind of personal data is called (label, plural: default the label) and what
    stands in the draft instead (mask)."""

    label: Text
    plural: Text
    mask: Text

    @model_validator(mode="before")
    @classmethod
    def _plural_defaults_to_label(cls, data: Any) -> Any:
        if isinstance(data, dict) and "plural" not in data and "label" in data:
            data = {**data, "plural": data["label"]}
        return data


class Kinds(Table):
    """``[kinds.*]``: the built-in kinds, each required."""

    unknown_key_hint: ClassVar[str] = "add a pattern under [[patterns]] for anything else"

    personnummer: Kind
    samordningsnummer: Kind
    telefon: Kind
    epost: Kind
    adress: Kind
    namn: Kind


KINDS = tuple(Kinds.model_fields)


class PhoneTable(Table):
    """``[phone]``: the number types that can belong to a person."""

    types: Array[PhoneType] = PHONE_TYPES


class EmailTable(Table):
    """``[email]``: an organisation's addresses, kept."""

    keep_local_parts: Array[Text] = ()


class AddressTable(Table):
    """``[address]``: endings that make a street name."""

    street_suffixes: Array[Text] = ()


class NamesTable(Table):
    """``[names]``: the words that mark a participant's name, and words that are never names."""

    markers: Array[Text] = ()
    connectors: Array[Text] = ()
    before_marker: Array[Text] = ()
    verbs: Array[Text] = ()
    roles: Array[Text] = ()
    column_headers: Array[Text] = ()
    particles: Array[Text] = ()
    not_names: Array[Text] = ()


class KeepTable(Table):
    """``[keep]``: texts never masked."""

    values: Array[Text] = ()


class PatternTable(Kind):
    """``[[patterns]]``: one more kind, found by a regular expression."""

    kind: str
    regex: str

    @field_validator("kind")
    @classmethod
    def _new_kind(cls, value: str) -> str:
        if value in KINDS:
            raise Invalid(f"{value!r} is built in; choose another name")
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", value):
            raise Invalid(f"{value!r} must be lower-case letters, digits, - or _")
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise Invalid(f"not a valid regular expression ({exc})") from None
        if compiled.search(""):
            raise Invalid("matches the empty text")
        return value


class RulesFile(Table):
    """``templates/personuppgifter.toml``."""

    kinds: Kinds
    phone: PhoneTable = PhoneTable()
    email: EmailTable = EmailTable()
    address: AddressTable = AddressTable()
    names: NamesTable = NamesTable()
    keep: KeepTable = KeepTable()
    patterns: Array[PatternTable] = ()


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    kind: str
    regex: re.Pattern


@dataclass(frozen=True)
class PersonalRules:
    """``templates/personuppgifter.toml``, validated, plus the partners' names."""

    labels: dict[str, str]
    plurals: dict[str, str]
    masks: dict[str, str]
    phone_types: frozenset[str]
    keep_local_parts: frozenset[str]
    street_suffixes: tuple[str, ...]
    markers: tuple[str, ...]
    connectors: tuple[str, ...]
    before_marker: tuple[str, ...]
    verbs: tuple[str, ...]
    roles: tuple[str, ...]
    column_headers: frozenset[str]
    particles: frozenset[str]
    not_names: frozenset[str]
    keep: frozenset[str]
    patterns: tuple[Pattern, ...]
    fingerprint: str

    def label(self, kind: str) -> str:
        return self.labels.get(kind, kind)

    def mask(self, kind: str) -> str:
        return self.masks[kind]


def fold(word: str) -> str:
    return unicodedata.normalize("NFC", word).strip().casefold()


def _longest_first(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({fold(w) for w in words}, key=len, reverse=True))


_LOADED: dict[tuple, PersonalRules] = {}


def load_rules(templates: Path | str, registry: Registry) -> PersonalRules:
    """Read and validate ``personuppgifter.toml``; the partners' names are never names. Read
    once while the file and the partners are the same (a run asks in several places)."""
    path = Path(templates) / RULES_FILE
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size,
               tuple((p.slug, p.name, p.short, tuple(p.aliases)) for p in registry.partners))
    except OSError:
        key = None
    if key is not None and key in _LOADED:
        return _LOADED[key]
    rules = _read_rules(path, registry)
    if key is not None:
        _LOADED[key] = rules
    return rules


def _read_rules(path: Path, registry: Registry) -> PersonalRules:
    data = read_config(path, RulesFile)
    kinds = [(kind, getattr(data.kinds, kind)) for kind in KINDS] + [(p.kind, p) for p in data.patterns]
    names = data.names
    not_names = {fold(w) for w in names.not_names}
    for phrases in (names.markers, names.roles, names.column_headers):  # the marker words themselves are never names
        not_names.update(fold(w) for phrase in phrases for w in phrase.split())
    for partner in registry.partners:
        for name in (partner.name, partner.short, partner.slug, *partner.aliases):
            not_names.update(fold(w) for w in re.split(r"[\s-]+", name) if w)
    fingerprint = hashlib.sha256(json.dumps(
        [path.read_text(encoding="utf-8"), sorted(not_names), DETECTOR_VERSION, _library_versions()]
    ).encode()).hexdigest()[:16]
    return PersonalRules(
        labels={kind: k.label for kind, k in kinds},
        plurals={kind: k.plural for kind, k in kinds},
        masks={kind: k.mask for kind, k in kinds},
        phone_types=frozenset(data.phone.types),
        keep_local_parts=frozenset(fold(w) for w in data.email.keep_local_parts),
        street_suffixes=_longest_first(data.address.street_suffixes),
        markers=_longest_first(names.markers),
        connectors=_longest_first(names.connectors),
        before_marker=_longest_first(names.before_marker),
        verbs=_longest_first(names.verbs),
        roles=_longest_first(names.roles),
        column_headers=frozenset(fold(w) for w in names.column_headers),
        particles=frozenset(fold(w) for w in names.particles),
        not_names=frozenset(not_names),
        keep=frozenset(data.keep.values),
        patterns=tuple(Pattern(p.kind, re.compile(p.regex)) for p in data.patterns),
        fingerprint=fingerprint,
    )


def _library_versions() -> list[str]:
    from importlib.metadata import version

    return [f"{name}-{version(name)}" for name in ("python-stdnum", "phonenumbers")]


def masking_fingerprint(config: Config) -> str:
    """Identity of the masking rules (file, partners, code, libraries): part of every
    draft's fingerprint, so changed rules give a new draft."""
    return load_rules(config.templates, config.registry).fingerprint


