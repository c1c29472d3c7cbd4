#!/usr/bin/env python3
"""Set up utkast and run it: the two commands of the README.

    python3 dev.py build    # set up, then build a draft from inbox/ into outputs/
    python3 dev.py test     # set up (with test tools), then run the tests
    python3 dev.py lock     # re-resolve the dependency tree into requirements/*.txt (hashes)
    python3 dev.py docs     # build the documentation site (MkDocs, --strict) into site/
    python3 dev.py bucket start|stop|status|upload ...   # the local S3 bucket (SeaweedFS)
    python3 dev.py stack up|status|down   # the Prefect server + UI, deployments and workers
                                          # (up [--postgres] [--workers N])

Set-up makes a virtual environment in .venv and installs the locked dependency tree into it
exactly as written (`pip install --no-deps --require-hashes -r requirements/<set>.txt`, then
`pip check`), then utkast itself (`--no-deps -e .`); again only when the lock file or
pyproject.toml changed. Extra arguments go to `utkast build`,
`pytest` or `pip-compile` (`python3 dev.py lock --upgrade`, `... lock -P prefect`).
Only the Python standard library is used here, so a fresh machine needs just Python 3.11.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCKS = ROOT / "requirements"
# Each set: the pyproject extras it holds. `test` is resolved first and holds everything; the
# others are resolved within its pins, so `build` runs exactly the versions the tests ran.
SETS = {"test": ["test", "bucket", "docs"], "runtime": [], "bucket": ["bucket"], "docs": ["docs"]}
# The locking tool lives in its own environment inside .venv, never among utkast's packages,
# installed from its own lock file like every other set (`lock` remakes that file from LOCK_TOOL).
LOCK_TOOL = "pip-tools==7.6.2"
LOCK_TOOLS = LOCKS / "lock-tools.txt"
LOCK_VENV = VENV / "lock-tools"
DIGEST_PREFIX = "# pyproject.toml dependencies sha256: "
PIP = ["-m", "pip", "--disable-pip-version-check"]


def declared_digest() -> str:
    """A digest of what pyproject.toml declares about dependencies (not its other settings)."""
    try:
        data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        sys.exit(f"dev.py: pyproject.toml is not valid TOML: {exc}")
    project = data.get("project", {})
    declared = {"dependencies": project.get("dependencies", []),
                "optional-dependencies": project.get("optional-dependencies", {}),
                "requires-python": project.get("requires-python", ""),
                "build-system": data.get("build-system", {}).get("requires", [])}
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()


def lock_file(name: str) -> Path:
    return LOCKS / f"{name}.txt"


def check_lock(path: Path) -> None:
    """Stop with one line when the lock file is missing or older than pyproject.toml's dependencies."""
    if not path.is_file():
        sys.exit(f"dev.py: {path.relative_to(ROOT)} is missing; run `python3 dev.py lock`")
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    if not first or first[0] != DIGEST_PREFIX + declared_digest():
        sys.exit(f"dev.py: the dependencies in pyproject.toml changed since {path.relative_to(ROOT)} was made; "
                 "run `python3 dev.py lock` and commit requirements/")


def make_venv(where: Path) -> Path:
    python = where / ("Scripts" if os.name == "nt" else "bin") / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(where)
    return python


def install_lock(python: Path, lock: Path, env: dict[str, str] | None = None) -> None:
    """Install the lock file ``lock`` into the environment of ``python`` exactly as written.

    The lock is the whole set, so pip installs its lines and resolves nothing: ``--no-deps``
    keeps pip from asking the index again for what a locked package requires. (The pip that
    ships with Python 3.11 does that for a requirement with an extra, such as prefect's
    ``httpx[http2]``, finds a newer release than the lock's and refuses it in hash mode.)
    ``pip check`` then fails, naming the package, when the lock misses something a locked
    package needs, instead of leaving a silent gap.
    """
    subprocess.run([python, *PIP, "install", "--quiet", "--no-deps", "--require-hashes", "-r", lock],
                   cwd=ROOT, env=env, check=True)
    check = subprocess.run([python, *PIP, "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    if check.returncode != 0:
        sys.exit(f"dev.py: {lock.name} is incomplete; the installed packages are missing what they need:\n"
                 f"{check.stdout.strip()}\nrun `python3 dev.py lock` and commit requirements/")


def setup(name: str) -> None:
    """Install the lock set ``name`` and utkast into .venv, unless that is already done."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"utkast needs Python 3.11; this is {sys.version.split()[0]}")
    lock = lock_file(name)
    check_lock(lock)
    stamp = VENV / f".installed-{name}"
    wanted = hashlib.sha256(lock.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating .venv ...", flush=True)
        make_venv(VENV)
    print(f"Installing utkast and its locked dependencies ({lock.relative_to(ROOT)}) into .venv "
          "(about a minute the first time) ...", flush=True)
    # Every package at its locked version, each file checked against its hash; then utkast
    # itself, built with the locked setuptools (no unlocked build environment is fetched).
    install_lock(BIN / "python", lock)
    subprocess.run([BIN / "python", *PIP, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", "."],
                   cwd=ROOT, check=True)
    stamp.write_text(wanted)


def lock(extra_args: list[str]) -> int:
    """Resolve the dependency tree of pyproject.toml into requirements/<set>.txt, with hashes.

    Existing pins are kept unless pyproject.toml needs otherwise (or `--upgrade` / `-P NAME`
    is given), so adding one dependency changes only what it brings in.
    """
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"utkast locks for Python 3.11; this is {sys.version.split()[0]}")
    python = make_venv(LOCK_VENV)
    install_lock(python, LOCK_TOOLS)
    compile_ = [python, "-m", "piptools", "compile", "--no-config", "--quiet", "--generate-hashes",
                "--allow-unsafe", "--strip-extras",
                # No index, find-links or host of this machine's pip configuration in the files.
                "--no-emit-index-url", "--no-emit-find-links", "--no-emit-trusted-host"]
    env = dict(os.environ, CUSTOM_COMPILE_COMMAND="python3 dev.py lock")
    digest = declared_digest()
    LOCKS.mkdir(exist_ok=True)
    for name, extras in SETS.items():
        target, work = lock_file(name), LOCKS / f".{name}.txt.new"
        print(f"Resolving {target.relative_to(ROOT)} ...", flush=True)
        command = [*compile_, "--build-deps-for", "editable", *(f"--extra={e}" for e in extras)]
        # pip-compile keeps the pins (and reuses the hashes) it finds in the file it writes:
        # seeded with the last test set, or for the others with the test set just made.
        seed = target if name == "test" else lock_file("test")
        if seed.exists():
            shutil.copyfile(seed, work)
        if name == "test":
            command += extra_args
        else:
            command += ["--constraint", str(lock_file("test").relative_to(ROOT))]
        done = subprocess.run([*command, "--output-file", str(work.relative_to(ROOT)), "pyproject.toml"],
                              cwd=ROOT, env=env)
        if done.returncode != 0:
            work.unlink(missing_ok=True)
            print(f"dev.py: resolving {target.relative_to(ROOT)} failed; the lock files are unchanged from here on",
                  file=sys.stderr)
            return done.returncode
        text = work.read_text(encoding="utf-8")
        if text.startswith(DIGEST_PREFIX):
            text = text.split("\n", 1)[1]
        work.write_text(f"{DIGEST_PREFIX}{digest}\n{text}", encoding="utf-8")
        os.replace(work, target)
    # The tools' own lock, so that the next `lock` installs exactly these versions too.
    work = LOCKS / ".lock-tools.txt.new"
    if LOCK_TOOLS.exists():
        shutil.copyfile(LOCK_TOOLS, work)
    source = LOCKS / ".lock-tools.in"
    source.write_text(LOCK_TOOL + "\n", encoding="utf-8")
    done = subprocess.run([*compile_, "--output-file", str(work.relative_to(ROOT)), str(source.relative_to(ROOT))],
                          cwd=ROOT, env=env)
    source.unlink()
    if done.returncode != 0:
        work.unlink(missing_ok=True)
        print(f"dev.py: resolving {LOCK_TOOLS.relative_to(ROOT)} failed; it is unchanged", file=sys.stderr)
        return done.returncode
    os.replace(work, LOCK_TOOLS)
    print("Locked. The next `python3 dev.py build` or `test` installs from the new files; commit requirements/.")
    return 0


def build_docs(extra_args: list[str], env: dict[str, str]) -> int:
    """Build the site from docs/ and mkdocs.yml into site/ (git-ignored), with every warning an
    error (``--strict``). Extra arguments go to ``mkdocs build`` (``--site-dir DIR``)."""
    # Material prints a notice about its end of life on every build; the site has no use for it.
    env = dict(env, NO_MKDOCS_2_WARNING="1")
    return subprocess.run([BIN / "mkdocs", "build", "--strict", *extra_args], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "test", "lock", "bucket", "stack", "docs"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    env = dict(os.environ, DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if command == "lock":
        return lock(rest)
    if command == "build":
        setup("runtime")
        return subprocess.run([BIN / "utkast", "build", *rest], cwd=ROOT, env=env).returncode
    if command == "bucket":
        setup("bucket")
        return subprocess.run([BIN / "python", ROOT / "scripts" / "local_bucket.py", *rest], cwd=ROOT).returncode
    if command == "docs":
        setup("docs")
        return build_docs(rest, env)
    if command == "stack":
        setup("runtime")
        return subprocess.run([BIN / "python", ROOT / "scripts" / "stack.py", *rest], cwd=ROOT, env=env).returncode
    setup("test")
    return subprocess.run([BIN / "python", "-m", "pytest", *rest], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
