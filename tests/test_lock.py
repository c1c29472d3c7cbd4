"""The lock files pin the whole dependency tree of pyproject.toml, with hashes, and name no host."""

from __future__ import annotations

import importlib.util
import re
import tomllib

import pytest

from tests.conftest import ROOT

SPEC = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
dev = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(dev)

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _pins(path) -> dict[str, str]:
    return {_name(m.group(1)): m.group(2) for line in path.read_text(encoding="utf-8").splitlines()
            if (m := PIN.match(line))}


def _declared(extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = list(project["dependencies"])
    for extra in extras:
        found += project["optional-dependencies"][extra]
    return found


@pytest.mark.parametrize("name", list(dev.SETS))
def test_each_lock_file_is_made_from_the_current_pyproject(name):
    path = dev.lock_file(name)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == dev.DIGEST_PREFIX + dev.declared_digest(), \
        f"{path.name} is older than pyproject.toml's dependencies: run python3 dev.py lock"


@pytest.mark.parametrize("name", list(dev.SETS))
def test_every_declared_dependency_is_pinned_with_hashes(name):
    path = dev.lock_file(name)
    pins = _pins(path)
    for requirement in _declared(dev.SETS[name]):
        dist = _name(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])
        assert dist in pins, f"{requirement} is not pinned in {path.name}"
        exact = re.search(r"==\s*([^\s,;]+)", requirement)
        if exact:
            assert pins[dist] == exact.group(1), f"{path.name} pins {dist}=={pins[dist]}, pyproject says {requirement}"
    assert "setuptools" in pins  # the build backend of `pip install --no-build-isolation -e .`
    # Every requirement carries at least one hash (pip's --require-hashes needs them all).
    blocks = re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8"))
    for block in blocks:
        if PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]


@pytest.mark.parametrize("name", list(dev.SETS))
def test_lock_files_name_no_index_or_host(name):
    text = dev.lock_file(name).read_text(encoding="utf-8")
    assert "://" not in text
    assert not [line for line in text.splitlines() if line.startswith("-")]


def test_the_smaller_sets_use_exactly_the_versions_the_tests_run_with():
    test = _pins(dev.lock_file("test"))
    for name in dev.SETS:
        pins = _pins(dev.lock_file(name))
        assert {k: v for k, v in pins.items() if test.get(k) != v} == {}, name
