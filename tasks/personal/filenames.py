"""Personal data in file names: a partner's file ``1.1 Översikt 19850101-2382.docx`` names a
person as surely as its text does. File names are scanned like text and shown masked
(``1.1 Översikt [personnummer borttaget].docx``) wherever they leave the partner's own
folder: manifests, the tracker, the reviewers' and changes pages, artifacts, e-mail.
"""

from __future__ import annotations

import re

from tasks.personal.detect import Detector, mask_text
from tasks.personal.rules import PersonalRules

# In names, words are often joined by "_" or glued to numbers by "-" or "."
# ("Översikt_19850101-2382", "intervju-850101-2382"): read as spaces, so a number or a name
# stands on its own as it would in text. Same length, so matches map back to the name.
JOINER = re.compile(r"_|(?<=[^\W\d_])[-.](?=\d)|(?<=\d)[-.](?=[^\W\d_])")
EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")


def as_words(text: str) -> str:
    """``text`` with the joiners of file names as spaces (the same length)."""
    return JOINER.sub(" ", text)


def mask_file_name(name: str, rules: PersonalRules, detector: Detector | None = None) -> str:
    """``name`` (one segment, with its extension) with personal data masked; ``detector``
    may know names found in the report's text, so they are masked here too."""
    detector = detector or Detector.for_rules(rules)
    ext = EXTENSION.search(name)
    stem, suffix = (name[:ext.start()], ext.group(0)) if ext else (name, "")
    found = detector.find(as_words(stem))
    return (mask_text(stem, found, rules) if found else stem) + suffix


def mask_key(key: str, rules: PersonalRules, detector: Detector | None = None) -> str:
    """An inbox key (``partner/…/file``) with each segment masked (:func:`mask_file_name`)."""
    detector = detector or Detector.for_rules(rules)
    return "/".join(mask_file_name(part, rules, detector) for part in key.split("/"))


def shown_keys(keys, rules: PersonalRules, known: dict[str, str] | None = None) -> dict[str, str]:
    """How each inbox key is shown outside the partner's folder: ``known`` (keys the
    personal-data scan already masked with the names of their report) or masked here."""
    known = known or {}
    detector = Detector.for_rules(rules)
    return {key: known[key] if key in known else mask_key(key, rules, detector) for key in keys}


def mask_in_text(text: str, rules: PersonalRules) -> str:
    """Personal data masked in a line such as an error message (which may quote a key)."""
    found = Detector.for_rules(rules).find(as_words(text))
    return mask_text(text, found, rules) if found else text
