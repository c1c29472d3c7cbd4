"""The personal-data rules: ``templates/personuppgifter.toml``, validated, plus the partners'
names (which are never a participant's name)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tasks.core.config import Config, ConfigError, Registry, _get, _read_toml

RULES_FILE = "personuppgifter.toml"
# Bump when detection or masking changes in code: drafts and reviews are then made anew.
DETECTOR_VERSION = "1"
KINDS = ("personnummer", "samordningsnummer", "telefon", "epost", "adress", "namn")
PHONE_TYPES = ("FIXED_LINE", "MOBILE", "FIXED_LINE_OR_MOBILE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST",
               "VOIP", "PERSONAL_NUMBER", "PAGER", "UAN", "VOICEMAIL", "UNKNOWN")


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


def _strings(table: dict, key: str, path: Path, where: str, default=()) -> list[str]:
    values = _get(table, key, list, path, where, default=list(default))
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(str(path), f"{where}{key}", f"{v!r} must be a non-empty string")
    return values


def fold(word: str) -> str:
    return unicodedata.normalize("NFC", word).strip().casefold()


def load_rules(templates: Path | str, registry: Registry) -> PersonalRules:
    """Read and validate ``personuppgifter.toml``; the partners' names are never names."""
    path = Path(templates) / RULES_FILE
    data = _read_toml(path)
    kinds = _get(data, "kinds", dict, path, "")
    labels, plurals, masks = {}, {}, {}
    for kind in KINDS:
        table = _get(kinds, kind, dict, path, "kinds.")
        labels[kind] = _get(table, "label", str, path, f"kinds.{kind}.")
        plurals[kind] = _get(table, "plural", str, path, f"kinds.{kind}.", default=labels[kind])
        masks[kind] = _get(table, "mask", str, path, f"kinds.{kind}.")
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(str(path), f"kinds.{kind}", f"unknown kind; use one of {', '.join(KINDS)} "
                              "(add a pattern under [[patterns]] for anything else)")
    phone = _get(data, "phone", dict, path, "", default={})
    phone_types = _strings(phone, "types", path, "phone.", default=PHONE_TYPES)
    for t in phone_types:
        if t not in PHONE_TYPES:
            raise ConfigError(str(path), "phone.types", f"unknown number type {t!r}; use {', '.join(PHONE_TYPES)}")
    email = _get(data, "email", dict, path, "", default={})
    address = _get(data, "address", dict, path, "", default={})
    names = _get(data, "names", dict, path, "", default={})
    keep = _get(data, "keep", dict, path, "", default={})
    not_names = {fold(w) for w in _strings(names, "not_names", path, "names.")}
    for key in ("markers", "roles", "column_headers"):  # the marker words themselves are never names
        not_names.update(fold(w) for phrase in _strings(names, key, path, "names.") for w in phrase.split())
    for partner in registry.partners:
        for name in (partner.name, partner.short, partner.slug, *partner.aliases):
            not_names.update(fold(w) for w in re.split(r"[\s-]+", name) if w)
    patterns = []
    for i, table in enumerate(_get(data, "patterns", list, path, "", default=[])):
        where = f"patterns[{i}]."
        if not isinstance(table, dict):
            raise ConfigError(str(path), f"patterns[{i}]", "must be a table")
        kind = _get(table, "kind", str, path, where)
        if kind in KINDS:
            raise ConfigError(str(path), f"{where}kind", f"{kind!r} is built in; choose another name")
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", kind):
            raise ConfigError(str(path), f"{where}kind", f"{kind!r} must be lower-case letters, digits, - or _")
        labels[kind] = _get(table, "label", str, path, where)
        plurals[kind] = _get(table, "plural", str, path, where, default=labels[kind])
        masks[kind] = _get(table, "mask", str, path, where)
        source = _get(table, "regex", str, path, where)
        try:
            regex = re.compile(source)
        except re.error as exc:
            raise ConfigError(str(path), f"{where}regex", f"not a valid regular expression ({exc})") from None
        if regex.search(""):
            raise ConfigError(str(path), f"{where}regex", "matches the empty text")
        patterns.append(Pattern(kind, regex))
    fingerprint = hashlib.sha256(json.dumps(
        [path.read_text(encoding="utf-8"), sorted(not_names), DETECTOR_VERSION, _library_versions()]
    ).encode()).hexdigest()[:16]
    return PersonalRules(
        labels=labels, plurals=plurals, masks=masks, phone_types=frozenset(phone_types),
        keep_local_parts=frozenset(fold(w) for w in _strings(email, "keep_local_parts", path, "email.")),
        street_suffixes=tuple(sorted({fold(w) for w in _strings(address, "street_suffixes", path, "address.")},
                                     key=len, reverse=True)),
        markers=tuple(sorted({fold(w) for w in _strings(names, "markers", path, "names.")}, key=len, reverse=True)),
        connectors=tuple(sorted({fold(w) for w in _strings(names, "connectors", path, "names.")},
                                key=len, reverse=True)),
        before_marker=tuple(sorted({fold(w) for w in _strings(names, "before_marker", path, "names.")},
                                   key=len, reverse=True)),
        verbs=tuple(sorted({fold(w) for w in _strings(names, "verbs", path, "names.")}, key=len, reverse=True)),
        roles=tuple(sorted({fold(w) for w in _strings(names, "roles", path, "names.")}, key=len, reverse=True)),
        column_headers=frozenset(fold(w) for w in _strings(names, "column_headers", path, "names.")),
        particles=frozenset(fold(w) for w in _strings(names, "particles", path, "names.")),
        not_names=frozenset(not_names),
        keep=frozenset(_strings(keep, "values", path, "keep.")),
        patterns=tuple(patterns),
        fingerprint=fingerprint,
    )


def _library_versions() -> list[str]:
    from importlib.metadata import version

    return [f"{name}-{version(name)}" for name in ("python-stdnum", "phonenumbers")]


def masking_fingerprint(config: Config) -> str:
    """Identity of the masking rules (file, partners, code, libraries): part of every
    draft's fingerprint, so changed rules give a new draft."""
    return load_rules(config.templates, config.registry).fingerprint


