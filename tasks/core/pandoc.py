"""Running pandoc: where the binary is, its version, and batch Lua scripts.

pandoc comes from the pinned ``pypandoc_binary`` wheel. Untrusted input is only ever read
by ``pandoc.read(..., {})`` inside our Lua scripts (the sandboxed reader) or with
``--sandbox`` on the command line.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
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


def lua_command(script: str, *args: str, memory_mb: int | None = None, alloc_mb: int = 128,
                compact: bool = False) -> list[str]:
    """The command line that runs one of our Lua scripts in pandoc.

    ``alloc_mb``: GHC's allocation area, used in 4 MB chunks (``-n``). A large one cuts garbage
    collection when converting many small documents (~40 % less time per document than the
    default 4 MB). 128 MB is the most of that for the memory: against 256 MB a batch of
    conversions takes about 1 % more time on 2-3 page reports and 5 % more on one-page ones, and
    its process peaks at 380 MB instead of 530 MB at 1,500 reports, so that it is no longer the
    largest process of a build. A draft's render holds one big document and is about as fast
    with 64 MB and needs less memory. ``compact``: compact the old generation in place instead
    of copying it, which keeps a very large draft's render near its live data (about 1 GB
    instead of 2 GB at 1,500 reports) for ~25 % more time."""
    rts = ["+RTS", f"-A{alloc_mb}m", "-n4m", *(["-c"] if compact else []),
           *([f"-M{memory_mb}m"] if memory_mb else []), "-RTS"]
    return [pandoc_path(), *rts, "lua", str(LUA / script), *args]


# Above this much JSON AST in one document, its script compacts the old generation (see
# lua_command): about 500 reports of 2-3 pages in one draft. Below it copying is faster.
COMPACT_INPUT_BYTES = 24_000_000


def one_document_rts(input_paths) -> dict:
    """The memory options for a script that builds one big document from these AST files
    (a paket's merge, the draft's render)."""
    size = sum(Path(p).stat().st_size for p in input_paths)
    return {"alloc_mb": 64, "compact": size > COMPACT_INPUT_BYTES}


def run_lua(script: str, *args: str, timeout: float, **rts) -> subprocess.CompletedProcess:
    """Run a Lua script to completion; raises ``subprocess.TimeoutExpired`` on timeout.
    ``rts``: the memory options of :func:`lua_command`."""
    with started_lua(script, *args, **rts) as proc:
        return finish_lua(proc, timeout=timeout)


@contextmanager
def started_lua(script: str, *args: str, **rts) -> Iterator[subprocess.Popen]:
    """Start a Lua script, so the caller works while pandoc does; end it with
    :func:`finish_lua` inside the block. When the block fails, the process is killed."""
    proc = subprocess.Popen(lua_command(script, *args, **rts), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        yield proc
    except BaseException:
        with proc:  # killed, its pipes closed
            proc.kill()
        raise


def finish_lua(proc: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    """Wait for a script :func:`started_lua` started, as :func:`subprocess.run` would: its
    output, or ``subprocess.TimeoutExpired`` after ``timeout`` seconds (then the block fails
    and the process is killed)."""
    out, err = proc.communicate(timeout=timeout)  # closes the pipes once pandoc has ended
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
