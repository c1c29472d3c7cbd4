"""S3 storage against a real SeaweedFS server on 127.0.0.1: listing, odd keys, links, errors."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import unicodedata
import urllib.error
import urllib.request

import pytest


@pytest.fixture
def store(s3_env):
    """An S3Storage under a prefix of its own in the session's bucket."""
    from tasks.storage import open_storage

    return open_storage(f"s3://{s3_env.bucket}/t-{secrets.token_hex(4)}")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers


def _refused(url: str) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=30)
    return info.value.code, info.value.read().decode("utf-8", "replace")


def test_write_read_list_delete_round_trip(store):
    store.write("myrorna/1.3 Kvalitet.md", "# Kvalitet\n\nText om kvalitet.\n".encode(), "text/markdown; charset=utf-8")
    store.write("status.json", b"{}", "application/json")

    assert store.read("myrorna/1.3 Kvalitet.md").decode() == "# Kvalitet\n\nText om kvalitet.\n"
    assert store.exists("status.json") and not store.exists("nothing.json")
    assert store.read_text("nothing.json") is None
    with pytest.raises(FileNotFoundError):
        store.read("nothing.json")
    entries = {e.key: e for e in store.list()}
    assert sorted(entries) == ["myrorna/1.3 Kvalitet.md", "status.json"]
    assert entries["status.json"].size == 2 and entries["status.json"].etag  # the change token
    assert [e.key for e in store.list("myrorna/")] == ["myrorna/1.3 Kvalitet.md"]

    store.delete("status.json")
    assert [e.key for e in store.list()] == ["myrorna/1.3 Kvalitet.md"]


def test_listing_follows_every_page(store):
    store.page_size = 7
    calls = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append(1))
    for i in range(25):
        store.write(f"inbox/forum/{i:02d}.txt", str(i).encode())

    keys = [e.key for e in store.list("inbox/")]

    assert sorted(keys) == [f"inbox/forum/{i:02d}.txt" for i in range(25)]
    assert len(calls) == 4  # 7 + 7 + 7 + 4


def test_nfc_and_nfd_keys_with_spaces_are_distinct_and_read_back_exactly(store):
    nfc = unicodedata.normalize("NFC", "fralsningsarmen/4.2 Grundläggande motiv för å och ö.md")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    store.write(nfc, b"skrivet som NFC")
    store.write(nfd, b"skrivet som NFD (macOS)")

    listed = {e.key for e in store.list()}

    assert listed == {nfc, nfd}
    assert store.read(nfc) == b"skrivet som NFC"
    assert store.read(nfd) == b"skrivet som NFD (macOS)"


@pytest.mark.parametrize("key, why", [
    ("../outputs/status.json", "'..' segment"),
    ("myrorna/../../x", "'..' segment"),
    ("/etc/passwd", "absolute"),
    ("myrorna//x.docx", "empty segment"),
    ("myrorna\\..\\x.docx", "backslash"),
    ("", "empty key"),
])
def test_keys_that_leave_the_prefix_are_refused_before_any_request(store, key, why):
    from tasks.storage.base import UnsafeKey

    for attempt in (lambda: store.write(key, b"x"), lambda: store.read(key), lambda: store.exists(key),
                    lambda: store.href(key), lambda: store.delete(key)):
        with pytest.raises(UnsafeKey, match=why):
            attempt()
    assert list(store.list()) == []


def test_a_prefix_that_leaves_the_bucket_root_is_refused(s3_env):
    from tasks.core.errors import StorageError
    from tasks.storage import open_storage

    with pytest.raises(StorageError, match="'..' segment"):
        open_storage(f"s3://{s3_env.bucket}/inbox/../outputs")


def test_large_file_is_uploaded_and_read_in_pieces(store, tmp_path):
    big = tmp_path / "utkast.pdf"
    chunk = os.urandom(1024 * 1024)
    with open(big, "wb") as fh:
        for _ in range(12):  # above boto3's 8 MB multipart threshold
            fh.write(chunk)
    store.write_file("drafts/v1/utkast.pdf", big, "application/pdf")

    digest, pieces = hashlib.sha256(), 0
    with store.open("drafts/v1/utkast.pdf") as body:
        while piece := body.read(1024 * 1024):
            digest.update(piece)
            pieces += 1
    assert digest.hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    assert pieces == 12


def test_presigned_link_downloads_under_the_given_name_and_refuses_tampering(store):
    store.write("drafts/v1/utkast.docx", b"PK fake docx bytes", "application/octet-stream")

    url = store.href("drafts/v1/utkast.docx", from_key="drafts/index.html", filename="Utkast för granskning.docx")
    body, headers = _get(url)
    assert body == b"PK fake docx bytes"
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Utkast%20f%C3%B6r%20granskning.docx" in disposition
    assert 'filename="Utkast for granskning.docx"' in disposition  # ASCII fallback

    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    tampered = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    assert _refused(tampered)[0] == 403
    other_key = url.replace("utkast.docx?", "utkast.pdf?")  # same signature, another object
    assert _refused(other_key)[0] == 403


def test_expired_link_is_refused(store):
    store.write("status.html", b"<p>Status</p>", "text/html; charset=utf-8")
    url = store.href("status.html", expires=1)
    time.sleep(2.5)
    code, body = _refused(url)
    assert code == 403 and "expired" in body


def test_links_live_at_most_seven_days(store):
    from tasks.core.errors import StorageError

    assert "X-Amz-Expires=604800" in store.href("x.txt")  # the default: 7 days
    with pytest.raises(StorageError, match="7 days"):
        store.href("x.txt", expires=8 * 24 * 3600)


def test_wrong_secret_is_refused_for_requests_and_links(s3_env, monkeypatch):
    from tasks.core.errors import StorageError
    from tasks.storage import open_storage

    good = open_storage(f"s3://{s3_env.bucket}/wrong-secret")
    good.write("utkast.docx", b"hemligt")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    bad = open_storage(f"s3://{s3_env.bucket}/wrong-secret")

    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        bad.read("utkast.docx")
    assert _refused(bad.href("utkast.docx"))[0] == 403


def test_describe_names_the_place_but_never_a_secret(store, s3_env):
    text = store.describe("status.json")
    assert text.startswith(f"s3://{s3_env.bucket}/t-") and s3_env.endpoint in text
    assert s3_env.keys["coordinator"]["secret_key"] not in text


def test_missing_credentials_or_server_is_a_storage_error(s3_env, monkeypatch):
    from flows.storage import open_storage
    from tasks.core.errors import StorageError

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StorageError, match="no S3 credentials"):
        open_storage(f"s3://{s3_env.bucket}/x")

    monkeypatch.setenv("UTKAST_AWS_CREDENTIALS_BLOCK", "utkast-bucket")
    try:
        import prefect_aws  # noqa: F401
    except ImportError:
        with pytest.raises(StorageError, match="needs prefect-aws"):
            open_storage(f"s3://{s3_env.bucket}/x")
    monkeypatch.delenv("UTKAST_AWS_CREDENTIALS_BLOCK")

    from scripts.local_bucket import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_env.keys["coordinator"]["access_key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_env.keys["coordinator"]["secret_key"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    with pytest.raises(StorageError, match="could not list"):
        list(open_storage(f"s3://{s3_env.bucket}/x").list())


def test_a_second_build_waits_for_the_lock_and_a_stale_lock_is_taken_over(store):
    from tasks.core.errors import StorageError

    store.lock_wait = 0
    with store.lock():
        assert store.exists(".build.lock")
        with pytest.raises(StorageError, match="another build holds"):
            with store.lock():
                pass
    assert not store.exists(".build.lock")

    store.write(".build.lock", json.dumps({"owner": "crashed", "expires": time.time() - 60}).encode())
    with store.lock():
        assert json.loads(store.read(".build.lock"))["owner"] != "crashed"
    assert not store.exists(".build.lock")


def test_content_disposition_keeps_ascii_names_plain():
    from tasks.storage.s3 import content_disposition

    assert content_disposition("utkast-20261127.docx") == 'attachment; filename="utkast-20261127.docx"'
    nfd = unicodedata.normalize("NFD", "Räddningsmissionen \"ny\".pdf")
    assert content_disposition(nfd) == (
        "attachment; filename=\"Raddningsmissionen _ny_.pdf\"; "
        "filename*=UTF-8''R%C3%A4ddningsmissionen%20%22ny%22.pdf")
