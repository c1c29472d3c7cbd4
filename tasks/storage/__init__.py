"""Where files live: a local folder or an S3 bucket, behind one small interface
(:class:`tasks.storage.base.Storage`).

:func:`open_storage` is the one place that picks the implementation from a URL
(``inbox``, ``/abs/path``, ``file:///path`` or ``s3://bucket/prefix``). Keys are
``/``-separated and relative to the storage root; a key that would leave the root
(``..``, absolute, empty segments) is refused with :class:`~tasks.storage.base.UnsafeKey`.
"""

from __future__ import annotations

import os
from typing import Callable
from urllib.parse import unquote, urlparse

from tasks.core.errors import StorageError
from tasks.storage.base import Storage
from tasks.storage.local import LocalStorage


def open_storage(url: str | os.PathLike, session_from: Callable[[], object] | None = None) -> Storage:
    """The storage behind ``url``: a folder path, ``file://`` URL or ``s3://bucket/prefix``
    (``session_from``: for a bucket, a function that returns the boto3 session to use, or None
    for the standard sources: :func:`tasks.storage.s3.make_client`)."""
    url = str(url)
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from tasks.storage.s3 import (
            S3Storage,  # boto3 is only imported when a bucket is used
        )

        return S3Storage.from_url(url, session_from)
    if parsed.scheme == "file":
        return LocalStorage(unquote(parsed.path))
    if parsed.scheme in ("", ) or (len(parsed.scheme) == 1 and os.name == "nt"):
        return LocalStorage(url)
    raise StorageError(f"unsupported storage URL {url!r}: use a folder path or s3://bucket/prefix")
