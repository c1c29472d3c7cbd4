"""The shared bucket end to end: partners upload into their folders of a real local S3 server,
``utkast build`` over s3:// prints a link, the draft downloads through it with a plain HTTP
client, links and identities are checked by the server, and an idle rebuild writes nothing new
except the reviewers' page and the tracker."""

from __future__ import annotations

import io
import re
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError
from docx import Document

from tests.builders import make_docx


def _snapshot(client, bucket: str, prefix: str) -> dict[str, tuple[str, float]]:
    """Every object under ``prefix`` with its ETag and modification time."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = (obj["ETag"], obj["LastModified"].timestamp())
    return found


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def partner_uploads(s3_env):
    """An inbox uploaded the way partners do it: each with their own identity, into their
    own folder (one file name in NFD, as macOS writes it)."""
    bucket = s3_env.bucket
    myrorna, forum, coordinator = s3_env.client("myrorna"), s3_env.client("forum"), s3_env.client()
    for key in _snapshot(coordinator, bucket, "inbox/") | _snapshot(coordinator, bucket, "outputs/"):
        coordinator.delete_object(Bucket=bucket, Key=key)  # whatever other tests left there
    nfd_name = unicodedata.normalize("NFD", "inbox/myrorna/1.3 Kvalitetssäkring i butik.docx")
    myrorna.put_object(Bucket=bucket, Key=nfd_name, Body=make_docx(
        ["Myrorna arbetar med kvalitetssäkring i alla butiker."], heading="Kvalitet i butiken"))
    myrorna.put_object(Bucket=bucket, Key="inbox/myrorna/bilaga.pdf", Body=b"%PDF-1.4 not accepted")
    forum.put_object(Bucket=bucket, Key="inbox/forum/5.1 Avstämning april.md",
                     Body="# Avstämning\n\nMötet i april enades om gemensamma kriterier.\n".encode())
    coordinator.put_object(Bucket=bucket, Key="inbox/stadsmissionen/2.1 Stöd.docx",
                           Body=make_docx(["Stadsmissionen ger stöd och matchning."]))
    # SeaweedFS's S3 gateway refuses keys with '..' segments, but other services (AWS) store
    # them; put one in through SeaweedFS's filer so the pipeline sees what they would list.
    planted = "..%5C..%5Coutputs%5Cdrafts%5Clatest.json"
    request = urllib.request.Request(
        f"http://127.0.0.1:{s3_env.ports['filer.port']}/buckets/{bucket}/inbox/forum/{planted}",
        data=b'{"version": "evil"}', method="PUT")
    with urllib.request.urlopen(request, timeout=30):
        pass
    return s3_env


def test_build_over_s3_prints_a_link_the_draft_downloads_from(prefect_harness, partner_uploads, capsys):
    from flows.cli import main

    bucket = partner_uploads.bucket
    coordinator = partner_uploads.client()
    inbox, out = f"s3://{bucket}/inbox", f"s3://{bucket}/outputs"
    listed = [o["Key"] for o in coordinator.list_objects_v2(Bucket=bucket, Prefix="inbox/forum/")["Contents"]]
    assert "inbox/forum/..\\..\\outputs\\drafts\\latest.json" in listed

    assert main(["build", "--inbox", inbox, "--out", out, "--no-review", "--formats", "docx,html"]) == 0
    printed = capsys.readouterr().out
    link = re.search(r"^  docx  (http://\S+)$", printed, re.M).group(1)
    assert link.startswith(f"{partner_uploads.endpoint}/{bucket}/outputs/drafts/") and "X-Amz-Signature=" in link
    assert "3 of 17 pieces received" in printed and "2 files rejected" in printed

    # A reviewer with nothing but the link.
    with urllib.request.urlopen(link, timeout=30) as response:
        data = response.read()
        disposition = response.headers["Content-Disposition"]
    version = re.search(r"Draft (\S+) published", printed).group(1)
    assert disposition == f'attachment; filename="utkast-{version}.docx"'
    text = "\n".join(p.text for p in Document(io.BytesIO(data)).paragraphs)
    assert "Myrorna arbetar med kvalitetssäkring i alla butiker." in text
    assert "Mötet i april enades om gemensamma kriterier." in text
    assert "Stadsmissionen ger stöd och matchning." in text
    # The language page, written into the bucket by its process beside the run (flows/beside.py).
    page = coordinator.get_object(Bucket=bucket, Key=f"outputs/drafts/{version}/sprak.html")["Body"].read().decode()
    assert 'lang="sv"' in page and "Inga termer skrivs på olika sätt i det här utkastet." in page

    # The server checks the signature and the expiry.
    signature = link.rsplit("X-Amz-Signature=", 1)[1]
    assert _status(link.replace(signature, signature[::-1])) == 403
    assert _status(link.replace("X-Amz-Expires=604800", "X-Amz-Expires=604799")) == 403
    from tasks.storage import open_storage

    outputs = open_storage(out)
    short = outputs.href(f"drafts/{version}/utkast.docx", filename="utkast.docx", expires=1)
    time.sleep(2.5)
    assert _status(short) == 403

    # Why a file was not taken is in the bucket, in Swedish, where the partner can read it.
    notes = {o["Key"] for o in coordinator.list_objects_v2(Bucket=bucket, Prefix="outputs/rejected/")["Contents"]}
    assert "outputs/rejected/myrorna/bilaga.pdf.txt" in notes
    own = partner_uploads.client("myrorna").get_object(Bucket=bucket, Key="outputs/rejected/myrorna/bilaga.pdf.txt")
    assert "PDF-filer kan inte läsas in" in own["Body"].read().decode("utf-8")
    unsafe_note = next(k for k in notes if k.startswith("outputs/rejected/forum/"))
    unsafe_text = coordinator.get_object(Bucket=bucket, Key=unsafe_note)["Body"].read().decode("utf-8")
    assert "otillåtna delar" in unsafe_text and '".."' in unsafe_text
    with pytest.raises(ClientError, match="AccessDenied"):  # not another partner's notes
        partner_uploads.client("forum").get_object(Bucket=bucket, Key="outputs/rejected/myrorna/bilaga.pdf.txt")
    # The escaping key was only listed, never followed: the real latest.json is the draft's.
    latest = coordinator.get_object(Bucket=bucket, Key="outputs/drafts/latest.json")["Body"].read().decode()
    assert version in latest and "evil" not in latest

    # Nothing new: the second build writes only the reviewers' page and the tracker.
    before = _snapshot(coordinator, bucket, "outputs/")
    time.sleep(1.1)  # so a rewritten object would show a later modification time too
    assert main(["build", "--inbox", inbox, "--out", out, "--no-review", "--formats", "docx,html"]) == 0
    assert "Nothing new since draft" in capsys.readouterr().out
    after = _snapshot(coordinator, bucket, "outputs/")
    assert set(after) == set(before)
    changed = {key for key in after if after[key] != before[key]}
    assert changed <= {"outputs/drafts/index.html", "outputs/status.json", "outputs/status.html"}
    assert "outputs/drafts/index.html" in changed


def test_each_partner_may_write_only_into_its_own_folder(s3_env):
    bucket = s3_env.bucket
    myrorna = s3_env.client("myrorna")

    myrorna.put_object(Bucket=bucket, Key="inbox/myrorna/4.3 Utveckling.md", Body=b"# Utveckling\n")
    listed = myrorna.list_objects_v2(Bucket=bucket, Prefix="inbox/myrorna/")
    assert "inbox/myrorna/4.3 Utveckling.md" in [o["Key"] for o in listed["Contents"]]
    for key in ("inbox/forum/4.3 Utveckling.md", "outputs/drafts/latest.json", "inbox/4.3.md"):
        with pytest.raises(ClientError, match="AccessDenied"):
            myrorna.put_object(Bucket=bucket, Key=key, Body=b"x")
    with pytest.raises(ClientError):  # '..' in a partner's key: refused by the server
        myrorna.put_object(Bucket=bucket, Key="inbox/myrorna/../forum/4.3.md", Body=b"x")
    with pytest.raises(ClientError, match="AccessDenied"):  # other partners' file names stay private
        myrorna.list_objects_v2(Bucket=bucket, Prefix="inbox/")
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        s3_env.client("myrorna", secret="not-the-secret").put_object(
            Bucket=bucket, Key="inbox/myrorna/x.md", Body=b"x")
    # A folder name with å/ä/ö, in either Unicode form, also counts as the partner's own.
    for form in ("NFC", "NFD"):
        key = unicodedata.normalize(form, "inbox/frälsningsarmén/4.2 Motiv.md")
        s3_env.client("fralsningsarmen").put_object(Bucket=bucket, Key=key, Body=b"# Motiv\n")


def test_local_bucket_upload_copies_a_folder_as_a_partner(s3_env, tmp_path):
    from scripts.local_bucket import upload

    folder = tmp_path / "verdandi"
    folder.mkdir()
    (folder / "4.2 Motiv för Växjö.txt").write_bytes("Verdandi i Växjö.".encode("cp1252"))
    keys = upload(folder, f"s3://{s3_env.bucket}/inbox/verdandi", who="verdandi", dir=s3_env.dir)
    assert keys == ["inbox/verdandi/4.2 Motiv för Växjö.txt"]
    with pytest.raises(SystemExit, match="AccessDenied"):
        upload(folder, f"s3://{s3_env.bucket}/inbox/forum", who="verdandi", dir=s3_env.dir)
