"""The portal over a real bucket (SeaweedFS on 127.0.0.1): uploads through the service land in
the partner's prefix, refusals leave the bucket untouched, and a presigned POST is held by the
bucket to its prefix and size."""

from __future__ import annotations

import dataclasses
import secrets
import urllib.error
import urllib.request

import pytest

from tasks.portal.links import KEY_ENV, PARTNER, issue_link, load_key
from tests.builders import make_docx
from tests.portal_server import form, get, running_portal, upload

MB = 1024 * 1024


@pytest.fixture
def bucket_site(s3_env, config, monkeypatch):
    from tasks.storage import open_storage

    monkeypatch.setenv(KEY_ENV, "nyckel-för-s3-testet-" + "s" * 20)
    root = f"s3://{s3_env.bucket}/portal-{secrets.token_hex(4)}"
    inbox, out = open_storage(f"{root}/inbox"), open_storage(f"{root}/outputs")
    intake = config.settings.intake.model_copy(update={"max_file_mb": 1})
    small = dataclasses.replace(config, settings=config.settings.model_copy(update={"intake": intake}))
    token, _ = issue_link(out, PARTNER, "myrorna", load_key())
    with running_portal(f"{root}/inbox", f"{root}/outputs", small) as base:
        yield {"inbox": inbox, "out": out, "url": f"{base}/l/{token}/", "bucket": s3_env.bucket, "root": root}


def keys(store, prefix: str = "") -> list[str]:
    return sorted(e.key for e in store.list(prefix))


def test_uploads_through_the_service_land_in_the_partners_prefix(bucket_site):
    data = make_docx(["Myrorna om kvalitet, i en hink."])
    assert upload(bucket_site["url"], "Kvalitet.docx", data, {"delrapport": "1.3"}).status == 303
    assert upload(bucket_site["url"], "1.3 Kvalitet.docx", b"andra versionen").status == 303

    assert keys(bucket_site["inbox"]) == ["myrorna/1.3 Kvalitet (2).docx", "myrorna/1.3 Kvalitet.docx"]
    assert bucket_site["inbox"].read("myrorna/1.3 Kvalitet.docx") == data
    page = get(bucket_site["url"]).text
    assert "1.3 Kvalitet (2).docx" in page and "väntar på granskning sedan" in page

    assert upload(bucket_site["url"], "../1.3 Utanför.docx", b"x").status == 400
    assert upload(bucket_site["url"], "1.3 Stor.docx", b"x" * (MB + 1)).status == 413
    assert keys(bucket_site["inbox"]) == ["myrorna/1.3 Kvalitet (2).docx", "myrorna/1.3 Kvalitet.docx"]
    assert [k for k in keys(bucket_site["out"]) if not k.startswith("portal/")] == []


def _post(url: str, fields: dict, filename: str, data: bytes) -> tuple[int, str]:
    body, ctype = form(fields, filename, data, file_field="file")
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


