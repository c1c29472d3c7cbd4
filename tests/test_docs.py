"""The documentation matches the code: every command in the README and in docs/ exists, every
deployment imports, every environment variable the code reads is described, the README stays
short, and the site builds with no warning."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


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


def _commands(pages=PAGES):
    """Each command line of the shell blocks of ``pages``, with the page it is on."""
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for lang, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
            if lang not in ("", "sh", "bash", "console"):
                continue
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if line and not line.startswith("#"):
                    yield page.name, line


def test_every_utkast_command_in_the_readme_and_the_docs_exists():
    from flows.cli import parser

    sub = next(a for a in parser()._actions if a.dest == "command")
    seen = 0
    for page, line in _commands():
        try:
            words = shlex.split(line.split("#")[0])
        except ValueError:  # not a command line (a JSON or TOML snippet in a plain block)
            continue
        for i, word in enumerate(words):
            if word.endswith("utkast") and i + 1 < len(words) and not words[i + 1].startswith("-"):
                assert words[i + 1] in sub.choices, (page, line)
                seen += 1
    assert seen >= 10


def test_every_script_the_readme_and_the_docs_name_exists():
    for page, line in _commands():
        try:
            words = shlex.split(line.split("#")[0])
        except ValueError:
            continue
        for word in words:
            if re.fullmatch(r"(\./)?(scripts/|dev\.py|\.ci/)[\w./-]*", word):
                assert (ROOT / word.removeprefix("./")).exists(), (page, line)


def test_the_readmes_two_commands_and_every_dev_py_command_named_in_the_docs_exist():
    import dev

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 dev.py build\n" in readme and "python3 dev.py test\n" in readme
    assert "A later release on the index cannot break the" in readme
    for page in PAGES:
        for command in re.findall(r"python3 dev\.py (\w+)", page.read_text(encoding="utf-8")):
            assert command in ("build", "test", "lock", "bucket", "stack", "docs"), (page.name, command)
    assert dev.main(["no-such-command"]) == 2


def test_the_readme_is_short_and_says_where_each_recipe_starts():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    extending = readme.split("\n## Extending", 1)[1].split("\n## ", 1)[0]
    for start in ("tasks/core/formats.py", "templates/regler/grammatik.xml", "tasks/notify/messages.py",
                  "tasks/portal/app.py"):
        assert start in extending and (ROOT / start).exists(), start
    for page in re.findall(r"`(docs/[\w-]+\.md)`", readme):
        assert (ROOT / page).exists(), page


def test_every_environment_variable_the_code_reads_is_described():
    names = set()
    for folder in ("tasks", "flows", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"[\"']((?:UTKAST|LANGUAGETOOL)_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    described = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert names and {n for n in names if f"`{n}`" not in described} == set()


def _nav_pages(nav) -> list[str]:
    found = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        found += _nav_pages(value) if isinstance(value, list) else [value]
    return found


def test_every_page_is_in_the_sites_navigation():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    assert sorted(nav) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    for page in ("operations.md", "portal-and-email.md", "language-review.md", "personal-data.md", "reliability.md",
                 "performance.md", "performance-figures.md", "extending.md", "language-figures.md",
                 "accessibility.md"):
        assert page in nav, page


def test_the_site_builds_strictly_with_no_warning(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (the docs set of the lock)")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr
    assert (tmp_path / "site" / "extending" / "index.html").exists()
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "For the coordinator" in page and "For the operator" in page and "For the developer" in page
