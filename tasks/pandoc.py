"""Running pandoc: where the binary is, its version, and batch Lua scripts.

pandoc comes from the pinned ``pypandoc_binary`` wheel. Untrusted input is only ever read
by ``pandoc.read(..., {})`` inside our Lua scripts (the sandboxed reader) or with
``--sandbox`` on the command line.
"""

from __future__ import annotations

import hashlib
import subprocess
from functools import cache
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"


@cache
def pandoc_path() -> str:
    import pypandoc

    return pypandoc.get_pandoc_path()


@cache
def pandoc_version() -> str:
    out = subprocess.run([pandoc_path(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


@cache
def script_digest(name: str) -> str:
    return hashlib.sha256((LUA / name).read_bytes()).hexdigest()[:16]


def lua_command(script: str, *args: str, memory_mb: int | None = None) -> list[str]:
    """The command line that runs one of our Lua scripts in pandoc."""
    # A large allocation area (-A256m) cuts pandoc's garbage collection: ~40 % less time per document.
    rts = ["+RTS", "-A256m", *([f"-M{memory_mb}m"] if memory_mb else []), "-RTS"]
    return [pandoc_path(), *rts, "lua", str(LUA / script), *args]


def run_lua(script: str, *args: str, timeout: float, memory_mb: int | None = None) -> subprocess.CompletedProcess:
    """Run a Lua script to completion; raises ``subprocess.TimeoutExpired`` on timeout."""
    return subprocess.run(lua_command(script, *args, memory_mb=memory_mb), capture_output=True,
                          text=True, timeout=timeout)
