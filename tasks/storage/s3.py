"""An S3 bucket (AWS, MinIO, SeaweedFS, ...) behind the :class:`~tasks.storage.Storage` interface.

``s3://bucket/prefix`` selects it (see :func:`tasks.storage.open_storage`). Where the bucket
is and who we are come from the standard boto3 sources, never from the URL:

- credentials: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``),
  ``AWS_PROFILE`` and the shared config files, an instance role; or a boto3 session the
  caller gives (the flows make one from a Prefect ``AwsCredentials`` block named by
  ``UTKAST_AWS_CREDENTIALS_BLOCK``: :mod:`flows.storage`);
- endpoint: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (read by botocore itself; a
  custom endpoint gets path-style addressing);
- region: ``AWS_REGION``/``AWS_DEFAULT_REGION`` or the profile, else ``us-east-1``.

Keys are passed to S3 exactly as given (NFC and NFD spellings are different keys), listing
returns them raw, and reading or writing a key that would leave the prefix is refused with
:class:`~tasks.storage.UnsafeKey` before any request is made. Failures of the service
become :class:`~tasks.core.errors.StorageError`; botocore's own retries (standard mode) are the
only retries here: 5 attempts per request, each given 10 s to connect and 120 s to answer, so
a call to a stopped server fails within a second or two and one to a hung server within
11 minutes (the flows' task retries come on top, see flows/policies.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import urlparse

from tasks.core.errors import StorageError
from tasks.storage.base import (
    DEFAULT_LINK_SECONDS,
    UPDATE_ATTEMPTS,
    Entry,
    KeyTaken,
    NameTooLong,
    Storage,
    UnsafeKey,
    check_key,
    content_disposition,
)

# SigV4 presigned URLs cannot live longer than seven days.
MAX_LINK_SECONDS = 7 * 24 * 3600
LOCK_TTL_SECONDS = 3 * 3600  # how long a build waits for another build's lease
# A held lease is renewed every LEASE_RENEW_SECONDS and lasts LEASE_SECONDS past its last renewal:
# a lease whose machine died (no renewals) is taken over by a build elsewhere within minutes.
LEASE_SECONDS = 300
LEASE_RENEW_SECONDS = 60
NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
# A conditional write that lost: the key exists (If-None-Match) or changed (If-Match), or a
# conditional write of the same key is under way.
CONDITION_FAILED = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
log = logging.getLogger(__name__)
_HELD: set[str] = set()  # the leases this process holds right now (their owner tokens)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Storage(Storage):
    """Objects under ``prefix`` in ``bucket``; keys are relative to the prefix."""

    links_expire = True
    page_size = 1000  # keys per listing request (S3's maximum); tests use a smaller one
    lock_wait = LOCK_TTL_SECONDS  # how long a build waits for another build's lock
    lease_seconds = LEASE_SECONDS
    lease_renew_seconds = LEASE_RENEW_SECONDS

    def __init__(self, bucket: str, prefix: str = "", client=None, session_from=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.client = client or make_client(session_from)

    @classmethod
    def from_url(cls, url: str, session_from=None) -> "S3Storage":
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise StorageError(f"not an S3 URL: {url!r}; use s3://bucket/prefix")
        prefix = parsed.path.strip("/")
        try:
            return cls(parsed.netloc, prefix, session_from=session_from)
        except UnsafeKey as exc:
            raise StorageError(f"{url}: the prefix {exc}") from exc

    # --- keys ---------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _base(self, prefix: str = "") -> str:
        base = f"{self.prefix}/" if self.prefix else ""
        return base + prefix

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        code = _error_code(exc)
        detail = f"{code}: {exc}" if code else str(exc)
        return StorageError(f"could not {action} {self.describe(key)}: {detail}")

    # --- the interface --------------------------------------------------------------------

    def list(self, prefix: str = "") -> Iterator[Entry]:
        """Every object under ``prefix``, keys exactly as stored (unsafe ones included:
        intake gives those a reason instead of skipping them silently)."""
        from botocore.exceptions import BotoCoreError, ClientError

        base = self._base("")
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self._base(prefix),
                                   PaginationConfig={"PageSize": self.page_size})
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(base):]
                    if not key or key.endswith("/"):  # folder markers made by some tools
                        continue
                    yield Entry(key, int(obj["Size"]), obj["LastModified"].timestamp(),
                                obj["ETag"].strip('"'))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", prefix, exc) from exc

    def open(self, key: str) -> BinaryIO:
        """The object's streaming body (read in pieces, or whole with ``read()``)."""
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._full(key)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=full)["Body"]
        except ClientError as exc:
            if _error_code(exc) in NOT_FOUND:
                raise FileNotFoundError(self.describe(key)) from exc
            raise self._fail("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from exc

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError

        body = self.open(key)
        try:
            return body.read()  # one buffer of the object's size
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from exc
        finally:
            body.close()

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """One PUT: S3 replaces an object atomically."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ContentType": content_type} if content_type else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("write", key, exc) from exc

    def write_file(self, key: str, source: Path, content_type: str | None = None) -> None:
        """Upload a local file streamed from disk (multipart when large)."""
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ContentType": content_type} if content_type else {}
        try:
            self.client.upload_file(str(source), self.bucket, self._full(key), ExtraArgs=extra,
                                    Config=TransferConfig(use_threads=False))
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise self._fail("write", key, exc) from exc

    def create_file(self, key: str, source: Path, content_type: str | None = None) -> Entry:
        """One PUT with ``If-None-Match: *``: the service refuses it (412) when the key
        exists, also when another PUT of the same key is under way."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ContentType": content_type} if content_type else {}
        try:
            with open(source, "rb") as body:
                done = self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=body, IfNoneMatch="*",
                                              **extra)
            return Entry(key, Path(source).stat().st_size, time.time(), done["ETag"].strip('"'))
        except ClientError as exc:
            if _error_code(exc) in CONDITION_FAILED:
                raise KeyTaken(key) from None
            if _error_code(exc) in ("KeyTooLongError",):
                raise NameTooLong(f"{key!r} is too long for the bucket") from None
            raise self._fail("write", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("write", key, exc) from exc

    def update(self, key: str, change, content_type: str | None = None) -> bytes:
        """Compare-and-swap: read the object and its ETag, write the change with ``If-Match``
        (``If-None-Match: *`` when it was absent), and start again when another writer came
        first."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ContentType": content_type} if content_type else {}
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                try:
                    current = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
                    data, condition = current["Body"].read(), {"IfMatch": current["ETag"]}
                except ClientError as exc:
                    if _error_code(exc) not in NOT_FOUND:
                        raise
                    data, condition = None, {"IfNoneMatch": "*"}
                new = change(data)
                self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=new, **condition, **extra)
                return new
            except ClientError as exc:
                if _error_code(exc) not in CONDITION_FAILED:
                    raise self._fail("update", key, exc) from exc
            except BotoCoreError as exc:
                raise self._fail("update", key, exc) from exc
            time.sleep(random.uniform(0.01, 0.05 * (attempt + 1)))
        raise StorageError(f"could not update {self.describe(key)}: other writers came first {UPDATE_ATTEMPTS} times")

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except ClientError as exc:
            if _error_code(exc) in NOT_FOUND:
                return False
            raise self._fail("check", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("check", key, exc) from exc

    def href(self, key: str, *, from_key: str | None = None, filename: str | None = None,
             expires: int = DEFAULT_LINK_SECONDS) -> str:
        """A presigned GET URL, valid ``expires`` seconds (at most 7 days). With ``filename``
        the browser downloads the object under that name; without, it opens it."""
        from botocore.exceptions import BotoCoreError

        expires = int(expires)
        if not 0 < expires <= MAX_LINK_SECONDS:
            raise StorageError(f"a link can be valid for 1 second to 7 days, not {expires} seconds")
        params = {"Bucket": self.bucket, "Key": self._full(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        try:
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
        except BotoCoreError as exc:
            raise self._fail("sign a link to", key, exc) from exc

    @contextlib.contextmanager
    def lock(self, name: str = "build"):
        """A lease object ``.<name>.lock`` created with a conditional PUT (If-None-Match),
        so two builds on the same outputs run one after the other. While held, the lease is
        renewed every ``lease_renew_seconds`` (a thread; If-Match on its ETag) to last
        ``lease_seconds`` more; a lease not renewed in time (its machine died, or storage
        was unreachable for that long) is taken over with If-Match on its ETag.
        A lease left by a process of this machine that has ended, or that failed to release
        it (storage was down then), is taken over at once (see :func:`_abandoned`).
        On a service without conditional writes builds are not serialised (as before)."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = f".{name}.lock"
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self.lock_wait
        held = False
        while True:
            body = json.dumps({"owner": token, "host": socket.gethostname(), "pid": os.getpid(),
                               "machine": _this_machine(), "started": _started(os.getpid()),
                               "expires": time.time() + self.lease_seconds}).encode()
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=body,
                                       IfNoneMatch="*", ContentType="application/json")
                held = True
                break
            except ClientError as exc:
                code = _error_code(exc)
                if code in ("NotImplemented", "501"):
                    break  # no conditional writes here: carry on unserialised
                if code not in CONDITION_FAILED:
                    raise self._fail("lock", key, exc) from exc
            except BotoCoreError as exc:
                raise self._fail("lock", key, exc) from exc
            if self._take_over_stale(key, body):
                held = True
                break
            if time.monotonic() > deadline:
                raise StorageError(f"another build holds {self.describe(key)}; waited {self.lock_wait} s")
            time.sleep(2)
        _HELD.add(token)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(key, body, stop), daemon=True,
                                   name="utkast-lease") if held else None
        if renewer:
            renewer.start()
        try:
            yield
        finally:
            stop.set()
            if renewer:
                renewer.join()
            _HELD.discard(token)
            if held:
                self._release(key, token)

    def _renew(self, key: str, body: bytes, stop: threading.Event) -> None:
        """Keep the lease ``body`` alive until ``stop``: push its expiry forward every
        ``lease_renew_seconds``, only while the stored lease is still ours (If-Match)."""
        from botocore.exceptions import BotoCoreError, ClientError

        lease = json.loads(body)
        while not stop.wait(self.lease_renew_seconds):
            try:
                current = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
                if json.loads(current["Body"].read() or b"{}").get("owner") != lease["owner"]:
                    log.warning("the build lease %s was taken over by another build", self.describe(key))
                    return
                lease["expires"] = time.time() + self.lease_seconds
                self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=json.dumps(lease).encode(),
                                       IfMatch=current["ETag"], ContentType="application/json")
            except (BotoCoreError, ClientError, ValueError) as exc:  # storage down: try again next time
                log.warning("could not renew the build lease %s: %s", self.describe(key), exc)

    def _take_over_stale(self, key: str, body: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            current = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            held = json.loads(current["Body"].read() or b"{}")
            if float(held.get("expires", 0)) > time.time() and not _abandoned(held):
                return False
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=body,
                                   IfMatch=current["ETag"], ContentType="application/json")
            return True
        except (ClientError, ValueError):
            return False  # gone or changed meanwhile: try again from the start

    def _release(self, key: str, token: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            held = json.loads(self.read(key))
            if held.get("owner") == token:
                self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        except (FileNotFoundError, ValueError, StorageError, BotoCoreError, ClientError):
            pass  # an unreleased lease expires by itself

    def describe(self, key: str = "") -> str:
        """``s3://bucket/prefix/key`` and the endpoint when it is not AWS; never a secret."""
        where = f"{self.url.rstrip('/')}/{key}" if key else self.url
        endpoint = self.client.meta.endpoint_url
        return where if endpoint.endswith(".amazonaws.com") else f"{where} (at {endpoint})"


def _this_machine() -> str | None:
    """Where a PID names one process: host name, boot and PID namespace (Linux); None elsewhere."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{socket.gethostname()} {boot} {namespace}"


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot); None when it does not run."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text(encoding="ascii", errors="replace")
    except (OSError, ValueError):
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22; the name in () may hold spaces


def _abandoned(lease: dict) -> bool:
    """A lease nobody holds any more although it has not expired: taken on this machine by
    a process that has ended (killed, crashed) or by this process outside any ``lock()`` now
    running (its release failed, e.g. while storage was down). Leases of other machines
    are only ever taken over when they expire."""
    machine = _this_machine()
    if machine is None or lease.get("machine") != machine or not lease.get("started"):
        return False
    pid = lease.get("pid")
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return lease.get("owner") not in _HELD
    return _started(pid) != lease["started"]  # ended, or the PID now names another process


def make_client(session_from=None):
    """An S3 client from the standard boto3 sources (see the module docstring), or from the
    session ``session_from()`` returns (a function; when it returns None, those sources)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    try:
        session = (session_from and session_from()) or boto3.Session()
        region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
        # SigV4 everywhere (presigned links too); standard retries around every request.
        settings = dict(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10,
                        read_timeout=120, signature_version="s3v4")
        client = session.client("s3", region_name=region, config=Config(**settings))
        # AWS: the bucket in the regional host name (so links need no redirect); a custom
        # endpoint (MinIO, SeaweedFS, ...): the bucket in the path.
        style = "virtual" if client.meta.endpoint_url.endswith(".amazonaws.com") else "path"
        client = session.client("s3", region_name=region, config=Config(**settings, s3={"addressing_style": style}))
        if session.get_credentials() is None:
            raise StorageError(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, "
                "or UTKAST_AWS_CREDENTIALS_BLOCK (for the local bucket: '. .local/bucket/coordinator.env')")
        return client
    except BotoCoreError as exc:
        raise StorageError(f"could not set up the S3 client: {exc}") from exc
