"""Storage as the flows and the command line open it: :func:`tasks.storage.open_storage`,
with a bucket's credentials optionally from a Prefect ``AwsCredentials`` block.

``UTKAST_AWS_CREDENTIALS_BLOCK=NAME`` (with ``prefect-aws`` installed) makes every bucket the
flows and the command line open use that block's boto3 session instead of the standard boto3
sources. A Prefect block is Prefect, so it is loaded here at the edge, never in ``tasks/``.
"""

from __future__ import annotations

import os

from tasks.core.errors import StorageError
from tasks.storage import open_storage as _open_storage
from tasks.storage.base import Storage


def open_storage(url: str | os.PathLike) -> Storage:
    """The storage behind ``url`` (a folder or ``s3://bucket/prefix``), a bucket signed in
    through the block named by ``UTKAST_AWS_CREDENTIALS_BLOCK`` when it is set."""
    return _open_storage(url, session_from=block_session)


def block_session():
    """A boto3 session from the Prefect ``AwsCredentials`` block named in
    ``UTKAST_AWS_CREDENTIALS_BLOCK``; None when the variable is unset."""
    name = os.environ.get("UTKAST_AWS_CREDENTIALS_BLOCK")
    if not name:
        return None
    try:
        from prefect_aws import AwsCredentials
    except ImportError:
        raise StorageError(f"UTKAST_AWS_CREDENTIALS_BLOCK={name} needs prefect-aws: "
                           ".venv/bin/pip install prefect-aws") from None
    try:
        return AwsCredentials.load(name).get_boto3_session()
    except Exception as exc:  # a missing block or an unreachable Prefect API
        raise StorageError(f"could not load the Prefect AWS credentials block {name!r}: {exc}") from exc
