#!/usr/bin/env python3
"""Set up utkast and run it: the two commands of the README.

    python3 dev.py build    # set up, then build a draft from inbox/ into outputs/
    python3 dev.py test     # set up (with test tools), then run the tests
    python3 dev.py bucket start|stop|status|upload ...   # the local S3 bucket (SeaweedFS)
    python3 dev.py stack up|status|down   # the Prefect server + UI, deployments and workers
                                          # (up [--postgres] [--workers N])

Set-up makes a virtual environment in .venv and installs the project into it (again
only when pyproject.toml changed). Extra arguments go to `utkast build` or `pytest`.
Only the Python standard library is used here, so a fresh machine needs just Python 3.11.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def setup(extras: str) -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"utkast needs Python 3.11; this is {sys.version.split()[0]}")
    stamp = VENV / f".installed-{extras or 'base'}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing utkast and its dependencies into .venv (about a minute the first time) ...", flush=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run([BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-e", target], cwd=ROOT, check=True)
    stamp.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "test", "bucket", "stack"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    env = dict(os.environ, DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if command == "build":
        setup("")
        return subprocess.run([BIN / "utkast", "build", *rest], cwd=ROOT, env=env).returncode
    if command == "bucket":
        setup("bucket")
        return subprocess.run([BIN / "python", ROOT / "scripts" / "local_bucket.py", *rest], cwd=ROOT).returncode
    if command == "stack":
        setup("")
        return subprocess.run([BIN / "python", ROOT / "scripts" / "stack.py", *rest], cwd=ROOT, env=env).returncode
    setup("test")
    return subprocess.run([BIN / "python", "-m", "pytest", *rest], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
