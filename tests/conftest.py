"""Shared fixtures: configuration, a session-wide Prefect harness, the shared corpus, a real
S3 server and Chromium; and the markers each test gets from the fixtures it uses.

Markers (registered in pyproject.toml): ``prefect`` (a Prefect server), ``s3`` (SeaweedFS),
``browser`` (Chromium), ``postgres`` (a PostgreSQL cluster of the stack's own) and ``slow`` (every one of those, and long CPU work). They follow from
the fixtures below, so a new test is marked without anyone remembering;
``@pytest.mark.slow`` marks a test that is slow for another reason.
``python3 dev.py test -m "not slow"`` runs the unit tests only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("UTKAST_CORPUS", ROOT.parent / "shared" / "corpus"))  # override for worktrees


@pytest.fixture(scope="session")
def config():
    from tasks.core.config import load_config

    return load_config()


@pytest.fixture(scope="module")
def settings(config):
    """The language review's settings (templates/review.toml and the files it names)."""
    from tasks.review.settings import load_review_settings

    return load_review_settings(config.templates, config.registry)


@pytest.fixture(scope="module")
def checker(settings):
    """The embedded checker, one per test module (its worker processes end with the module)."""
    from tasks.review.checker import EmbeddedChecker

    with EmbeddedChecker(settings.tuning) as c:
        yield c


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect server for the whole session (a cold start takes ~20 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def corpus() -> Path:
    """The shared corpus of real documents; tests using it skip in a bare clone."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


AXE_VERSION = "4.14.1"  # the same as .ci/run installs
AXE = ROOT / ".local" / "node_modules" / "axe-core" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
def axe_script():
    """axe-core's axe.min.js, installed from npm into .local/node_modules when missing."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if not npm:
            pytest.skip("npm is not installed, so axe-core cannot be (.ci/run installs it)")
        subprocess.run([npm, "install", "--prefix", str(ROOT / ".local"), "--no-audit", "--no-fund", "--silent",
                        f"axe-core@{AXE_VERSION}"], check=True, timeout=600)
    return AXE


def axe_violations(page, script: Path) -> list[str]:
    """axe-core's WCAG 2.1 A and AA violations on a Playwright page (the script injected)."""
    page.add_script_tag(path=str(script))
    return page.evaluate("""async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
        .violations.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`)""", WCAG)


@pytest.fixture(scope="session")
def local_bucket(tmp_path_factory):
    """A real S3 server for the session: SeaweedFS on 127.0.0.1 (free ports) with the
    project's identities (scripts/local_bucket.py), stopped by its PID afterwards."""
    from scripts.local_bucket import start, stop

    root = tmp_path_factory.mktemp("bucket")
    server = start(root, port=0)
    try:
        yield server
    finally:
        stop(root)


@pytest.fixture
def s3_env(local_bucket, monkeypatch):
    """The coordinator's credentials and the local endpoint in the environment (as
    ``. .local/bucket/coordinator.env`` gives them), nothing else of AWS."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "UTKAST_AWS_CREDENTIALS_BLOCK":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    for name, value in local_bucket.env().items():
        monkeypatch.setenv(name, value)
    return local_bucket


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium (the browser tests skip where it is not installed)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)")
    return found


# Fixtures (used directly or through another fixture) that mark a test. ``stack``,
# ``postgres_stack``, ``load_stack`` and ``private_bucket`` start their own Prefect stack (on
# PostgreSQL for the two named so) or SeaweedFS;
# ``corpus`` means the real documents of ../shared/corpus, which take long to convert.
MARKERS_BY_FIXTURE = {
    "prefect_harness": ("prefect", "slow"),
    "stack": ("prefect", "slow"),
    "postgres_stack": ("postgres", "prefect", "slow"),
    "load_stack": ("postgres", "prefect", "s3", "slow"),
    "local_bucket": ("s3", "slow"),
    "private_bucket": ("s3", "slow"),
    "chromium": ("browser", "slow"),
    "corpus": ("slow",),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ())) & MARKERS_BY_FIXTURE.keys()
        for marker in sorted({m for fixture in used for m in MARKERS_BY_FIXTURE[fixture]}):
            item.add_marker(marker)
