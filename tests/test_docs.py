"""The documentation matches the code: every README command exists, every deployment imports."""

from __future__ import annotations

import importlib
import re
import shlex

import yaml

from tests.conftest import ROOT


def test_every_prefect_entrypoint_imports_a_flow():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    names = set()
    for deployment in spec["deployments"]:
        path, func = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, func)
        assert hasattr(flow, "fn") and callable(flow.fn), deployment["name"]
        names.add(deployment["name"])
    assert {"inbox-watch", "nightly-draft", "draft-on-demand"} <= names


def _readme_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for lang, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        if lang not in ("", "sh", "bash", "console"):
            continue
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line and not line.startswith("#"):
                yield line


def test_every_utkast_command_in_the_readme_exists():
    from flows.cli import parser

    sub = next(a for a in parser()._actions if a.dest == "command")
    seen = 0
    for line in _readme_commands():
        words = shlex.split(line.split("#")[0])
        for i, word in enumerate(words):
            if word.endswith("utkast") and i + 1 < len(words) and not words[i + 1].startswith("-"):
                assert words[i + 1] in sub.choices, line
                seen += 1
    assert seen >= 3


def test_readme_scripts_exist():
    for line in _readme_commands():
        for word in shlex.split(line.split("#")[0]):
            if re.fullmatch(r"(\./)?(scripts/|dev\.py|\.ci/)[\w./-]*", word):
                assert (ROOT / word.removeprefix("./")).exists(), line
