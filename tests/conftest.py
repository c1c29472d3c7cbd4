"""Shared fixtures: configuration, a session-wide Prefect harness, the shared corpus."""

from __future__ import annotations

import os
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
