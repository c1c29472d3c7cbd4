"""Versions of the tools that shape a draft, recorded in every manifest."""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

from tasks import __version__
from tasks.core.pandoc import pandoc_version

PACKAGES = ["pypandoc_binary", "python-docx", "lingotweaker", "lingotweaker-data-sv", "typst", "prefect", "boto3"]


@cache
def tool_versions() -> dict[str, str]:
    found = {"utkast": __version__, "python": platform.python_version(), "pandoc": pandoc_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
