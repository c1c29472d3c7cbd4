"""Which checkout a worker runs a deployment's flow in (the decision alone; the real worker is in
tests/test_prefect_server.py)."""

from __future__ import annotations

import pytest

from flows.checkout import CheckoutNotFound, find_checkout, note_checkout
from tests.conftest import ROOT


def test_utkast_home_wins_when_it_is_a_checkout(tmp_path):
    folder, why = find_checkout(str(ROOT), str(tmp_path))
    assert folder == ROOT and why == f"UTKAST_HOME={ROOT}"


def test_without_utkast_home_the_folder_the_deployments_were_made_from(tmp_path):
    folder, why = find_checkout("", str(ROOT))
    assert folder == ROOT
    assert why == "UTKAST_HOME is not set; the folder the deployments were made from"
    assert find_checkout(None, str(ROOT))[0] == ROOT


@pytest.mark.parametrize("home, deployed, says", [
    ("", "/nowhere/utkast", "UTKAST_HOME is not set on this worker and the folder the deployments were made "
                            "from (/nowhere/utkast) is not a utkast checkout here"),
    (None, "", "UTKAST_HOME is not set on this worker and the deployments do not say which folder"),
    ("/nowhere/utkast", str(ROOT), "UTKAST_HOME=/nowhere/utkast is not a utkast checkout on this worker"),
])
def test_no_checkout_is_one_line_that_says_what_to_set(tmp_path, home, deployed, says):
    with pytest.raises(CheckoutNotFound) as info:
        find_checkout(home, deployed)
    message = str(info.value)
    assert message.startswith(says) and "\n" not in message
    assert "set UTKAST_HOME to the folder of this machine's utkast checkout" in message


def test_an_empty_folder_is_not_a_checkout(tmp_path):
    with pytest.raises(CheckoutNotFound):
        find_checkout(str(tmp_path), str(ROOT))


def test_the_build_step_notes_the_folder_prefect_deploy_runs_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert note_checkout() == {"directory": str(tmp_path.resolve())}


def test_prefect_yaml_notes_the_folder_at_deploy_time_and_enters_it_on_the_worker():
    import importlib

    import yaml

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (build,), (pull,) = spec["build"], spec["pull"]
    for step in (build, pull):
        (name,) = step
        module, _, func = name.rpartition(".")
        assert callable(getattr(importlib.import_module(module), func)), name
    assert build == {"flows.checkout.note_checkout": {"id": "checkout"}}
    assert pull == {"flows.checkout.enter_checkout": {"deployed_from": "{{ checkout.directory }}"}}
