"""Uploads and invites at the same time, against the real service: nothing a partner sends is
lost, nothing is stored twice under one name, no change to the links is lost.

The property: N concurrent uploads of one name through two portals over the same inbox
give N stored files with distinct names, each byte-identical to what was sent, and every
request that got "Mottagen" is among them. In a folder and on SeaweedFS.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tasks.portal.links import KEY_ENV, PARTNER, find_link, issue_link, load_key, read_links
from tasks.storage import open_storage
from tests.conftest import ROOT
from tests.portal_server import running_portal, upload

UPLOADS = 20


@pytest.fixture
def big(config):
    """The configuration with a 40 MB upload limit (two 15 MB files at once fit)."""
    intake = config.settings.intake.model_copy(update={"max_file_mb": 40})
    return dataclasses.replace(config, settings=config.settings.model_copy(update={"intake": intake}))


def race(urls: list[str], bodies: list[bytes], name: str = "1.3 Race.docx") -> list[int]:
    """Send every body as an upload of ``name`` at once, spread over ``urls``; the statuses."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = pool.map(lambda i: upload(urls[i % len(urls)], name, bodies[i]), range(len(bodies)))
        return [a.status for a in answers]


def stored(store, folder: str = "myrorna/") -> dict[str, bytes]:
    return {e.key: store.read(e.key) for e in store.list(folder) if not e.key.rsplit("/", 1)[-1].startswith(".")}


def check_nothing_lost(store, bodies: list[bytes], statuses: list[int]) -> None:
    assert statuses == [303] * len(bodies)  # every one was told "Mottagen"
    files = stored(store)
    assert len(files) == len(bodies), sorted(files)  # N files, so N distinct names
    assert sorted(hashlib.sha256(b).hexdigest() for b in files.values()) == \
        sorted(hashlib.sha256(b).hexdigest() for b in bodies)  # each byte-identical to what was sent
    names = {k.rsplit("/", 1)[-1] for k in files}
    assert "1.3 Race.docx" in names and f"1.3 Race ({len(bodies)}).docx" in names


def bodies_of(size: int, n: int) -> list[bytes]:
    return [f"upload {i}:".encode() + secrets.token_bytes(size) for i in range(n)]


@pytest.mark.parametrize("size", [1_000, 200_000])
def test_concurrent_uploads_of_one_name_into_a_folder_are_all_kept(tmp_path, config, monkeypatch, size):
    monkeypatch.setenv(KEY_ENV, "nyckel-för-kapplöpningen-" + "k" * 20)
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    token, _ = issue_link(open_storage(str(out)), PARTNER, "myrorna", load_key())
    bodies = bodies_of(size, UPLOADS)
    with running_portal(inbox, out, config) as one, running_portal(inbox, out, config) as two:
        statuses = race([f"{one}/l/{token}/", f"{two}/l/{token}/"], bodies)
    check_nothing_lost(open_storage(str(inbox)), bodies, statuses)


@pytest.mark.slow
def test_two_large_uploads_of_one_name_at_once_are_both_kept(tmp_path, big, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "nyckel-för-kapplöpningen-" + "k" * 20)
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    inbox.mkdir()
    token, _ = issue_link(open_storage(str(out)), PARTNER, "myrorna", load_key())
    bodies = bodies_of(15 * 1024 * 1024, 2)
    with running_portal(inbox, out, big) as base:
        statuses = race([f"{base}/l/{token}/"], bodies)
    check_nothing_lost(open_storage(str(inbox)), bodies, statuses)


def test_concurrent_uploads_of_one_name_into_the_bucket_are_all_kept(s3_env, config, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "nyckel-för-kapplöpningen-" + "k" * 20)
    root = f"s3://{s3_env.bucket}/race-{secrets.token_hex(4)}"
    token, _ = issue_link(open_storage(f"{root}/outputs"), PARTNER, "myrorna", load_key())
    bodies = bodies_of(200_000, UPLOADS)
    with running_portal(f"{root}/inbox", f"{root}/outputs", config) as one, \
            running_portal(f"{root}/inbox", f"{root}/outputs", config) as two:
        statuses = race([f"{one}/l/{token}/", f"{two}/l/{token}/"], bodies)
    check_nothing_lost(open_storage(f"{root}/inbox"), bodies, statuses)


@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_concurrent_uploads_never_fill_a_folder_past_its_limit(where, tmp_path, config, monkeypatch, request):
    """Twelve uploads of 400 kB at once through two portals into a folder that may hold 2 MB:
    five are stored, the other seven hear why in Swedish, and the folder holds exactly what
    the five were told was received."""
    monkeypatch.setenv(KEY_ENV, "nyckel-för-kapplöpningen-" + "k" * 20)
    if where == "bucket":
        root = f"s3://{request.getfixturevalue('s3_env').bucket}/full-{secrets.token_hex(4)}"
    else:
        root = str(tmp_path)
    intake = config.settings.intake.model_copy(update={"max_file_mb": 1, "max_folder_mb": 2})
    small = dataclasses.replace(config, settings=config.settings.model_copy(update={"intake": intake}))
    token, _ = issue_link(open_storage(f"{root}/outputs"), PARTNER, "myrorna", load_key())
    bodies = bodies_of(400_000, 12)
    with running_portal(f"{root}/inbox", f"{root}/outputs", small) as one, \
            running_portal(f"{root}/inbox", f"{root}/outputs", small) as two:
        urls = [f"{one}/l/{token}/", f"{two}/l/{token}/"]
        with ThreadPoolExecutor(len(bodies)) as pool:
            answers = list(pool.map(lambda i: upload(urls[i % 2], f"1.3 Del {i}.docx", bodies[i]), range(len(bodies))))
    statuses = [a.status for a in answers]
    assert sorted(statuses) == [303] * 5 + [413] * 7, statuses
    for answer in answers:
        if answer.status == 413:
            assert "Filen får inte plats: du har redan lämnat 2 MB och gränsen är 2 MB." in answer.text
    files = stored(open_storage(f"{root}/inbox"))
    received = {f"myrorna/1.3 Del {i}.docx": bodies[i] for i, a in enumerate(answers) if a.status == 303}
    assert files == received
    assert sum(len(b) for b in files.values()) <= 2 * 1024 * 1024


def test_concurrent_creates_of_one_key_in_the_bucket_let_exactly_one_win(s3_env, tmp_path):
    """The storage's own guarantee, many writers on one key: one gets it, the rest hear KeyTaken."""
    from tasks.storage.base import KeyTaken

    store = open_storage(f"s3://{s3_env.bucket}/create-{secrets.token_hex(4)}")
    sources = []
    for i in range(UPLOADS):
        sources.append(tmp_path / f"s{i}")
        sources[-1].write_bytes(f"writer {i}".encode() * 1000)

    def create(source):
        try:
            store.create_file("one/key.docx", source)
            return source
        except KeyTaken:
            return None

    with ThreadPoolExecutor(UPLOADS) as pool:
        winners = [s for s in pool.map(create, sources) if s is not None]
    assert len(winners) == 1
    assert store.read("one/key.docx") == winners[0].read_bytes()


# --- links.json: invites and rotations at the same time ------------------------------------------

INVITE = ("import sys; from flows.cli import main; "
          "sys.exit(main(['invite', sys.argv[1], '--out', sys.argv[2]] + sys.argv[3:]))")


def invite(out: str, slug: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", INVITE, slug, out, *extra], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def printed_token(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    (line,) = [l for l in stdout.splitlines() if "/l/" in l]
    return line.rstrip("/").rsplit("/", 1)[-1]


@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_invites_and_rotations_at_once_lose_no_partner_and_keep_no_old_link(
        where, tmp_path, monkeypatch, request):
    monkeypatch.setenv(KEY_ENV, "nyckel-för-inbjudningarna-" + "i" * 20)
    if where == "bucket":
        s3_env = request.getfixturevalue("s3_env")
        out_url = f"s3://{s3_env.bucket}/links-{secrets.token_hex(4)}/outputs"
    else:
        out_url = str(tmp_path / "outputs")
    out = open_storage(out_url)
    first = {slug: issue_link(out, PARTNER, slug, load_key())[0] for slug in ("myrorna", "verdandi")}
    env_slugs = ["forum", "coompanion", "erikshjalpen", "skl", "kooptjanst", "roda-korset"]
    processes = {slug: invite(out_url, slug) for slug in env_slugs}
    processes |= {slug: invite(out_url, slug, "--rotate") for slug in ("myrorna", "verdandi")}
    tokens = {slug: printed_token(p) for slug, p in processes.items()}

    links = read_links(out)
    assert sorted(e["name"] for e in links.values()) == sorted(tokens)  # nobody's entry lost
    for slug, token in tokens.items():
        assert find_link(out, token).name == slug  # every printed link works
    for slug, old in first.items():
        assert find_link(out, old) is None  # "the previous link no longer works" is true


@pytest.mark.parametrize("where", ["folder", "bucket"])
def test_every_partner_invited_at_the_same_moment_keeps_a_working_link(where, tmp_path, config, request):
    """Fourteen invites and a rotation each, released together (threads behind a barrier)."""
    import threading

    if where == "bucket":
        out = open_storage(f"s3://{request.getfixturevalue('s3_env').bucket}/links-{secrets.token_hex(4)}")
    else:
        out = open_storage(str(tmp_path / "outputs"))
    key = b"nyckel-for-barriaren-" + b"b" * 20
    slugs = [p.slug for p in config.registry.partners]
    start = threading.Barrier(len(slugs))

    def invite_and_rotate(slug: str) -> tuple[str, str]:
        start.wait()
        first, _ = issue_link(out, PARTNER, slug, key)
        second, _ = issue_link(out, PARTNER, slug, key, rotate=True)
        return first, second

    with ThreadPoolExecutor(len(slugs)) as pool:
        made = dict(zip(slugs, pool.map(invite_and_rotate, slugs)))
    for slug, (first, second) in made.items():
        assert find_link(out, first) is None, slug  # rotated: the first link stopped
        assert find_link(out, second) is not None and find_link(out, second).name == slug
    assert len(read_links(out)) == len(slugs)
