"""The locked install takes the lock exactly as written, whatever else the index holds.

A tiny index in a folder (wheels written here, no network): ``a`` requires ``b[x]``, ``b``'s
extra requires ``c``, and the index holds a newer ``b`` than the lock pins. This is how prefect's
``httpx[http2]`` met a newer httpx than the lock's and stopped every fresh install.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import subprocess
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SPEC = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
dev = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(dev)


def write_wheel(folder: Path, name: str, version: str, requires: list[str] = (), extras: list[str] = ()) -> Path:
    """A pure-Python wheel of one empty module, with the given requirements."""
    tag = f"{name}-{version}"
    path = folder / f"{tag}-py3-none-any.whl"
    files = {
        f"{name}/__init__.py": "",
        f"{tag}.dist-info/METADATA": "\n".join(
            ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
             *(f"Provides-Extra: {e}" for e in extras), *(f"Requires-Dist: {r}" for r in requires)]) + "\n",
        f"{tag}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for member, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{member},sha256={digest},{len(text.encode())}")
    record.append(f"{tag}.dist-info/RECORD,,")
    files[f"{tag}.dist-info/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            wheel.writestr(member, text)
    return path


def lock_line(wheel: Path) -> str:
    name, version = wheel.name.split("-")[:2]
    return f"{name}=={version} \\\n    --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """The folder index and the lock of a==1, b==1, c==1 (b 2.0 is there too, newer than the lock)."""
    folder = tmp_path_factory.mktemp("index")
    a = write_wheel(folder, "a", "1.0", requires=["b[x]>=1.0"])
    b = write_wheel(folder, "b", "1.0", requires=['c; extra == "x"'], extras=["x"])
    write_wheel(folder, "b", "2.0", requires=['c; extra == "x"'], extras=["x"])
    c = write_wheel(folder, "c", "1.0")
    return folder, [a, b, c]


@pytest.fixture
def python(tmp_path):
    """A new environment with the pip that ships with Python 3.11, as dev.py makes one."""
    where = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(where)
    return where / "bin" / "python"


def offline(folder: Path) -> dict[str, str]:
    import os

    return dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(folder), PIP_NO_CACHE_DIR="1",
                PIP_CONFIG_FILE=os.devnull)


def installed(python: Path, name: str) -> str | None:
    done = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def test_the_lock_is_installed_as_written_though_the_index_has_a_newer_release(index, python, tmp_path):
    folder, wheels = index
    lock = tmp_path / "lock.txt"
    lock.write_text("".join(lock_line(w) for w in wheels), encoding="utf-8")
    dev.install_lock(python, lock, env=offline(folder))
    assert (installed(python, "a"), installed(python, "b"), installed(python, "c")) == ("1.0", "1.0", "1.0")


def test_a_lock_that_misses_a_requirement_fails_naming_it(python, tmp_path):
    folder = tmp_path / "index"
    folder.mkdir()
    a = write_wheel(folder, "a", "1.0", requires=["d>=1"])
    write_wheel(folder, "d", "1.0")
    lock = tmp_path / "lock.txt"
    lock.write_text(lock_line(a), encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        dev.install_lock(python, lock, env=offline(folder))
    assert "lock.txt is incomplete" in str(stop.value)
    assert "a 1.0 requires d" in str(stop.value)
    assert installed(python, "d") is None


def test_the_lock_tools_are_locked_with_hashes_too():
    text = dev.LOCK_TOOLS.read_text(encoding="utf-8")
    assert dev.LOCK_TOOL in text
    pins = [line for line in text.splitlines() if "==" in line and not line.startswith(" ")]
    assert pins and all(line.endswith("\\") for line in pins)  # each pin is followed by its hashes
    assert "://" not in text
