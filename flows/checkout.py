"""Which checkout of utkast a deployment's run executes in: the steps of ``prefect.yaml``.

``prefect deploy`` runs :func:`note_checkout` (a build step) in the folder it deploys from and
keeps that folder in the deployments' pull step; on a worker, :func:`enter_checkout` (the pull
step) changes into ``UTKAST_HOME``, or, where that is not set, into the folder the deployments
were made from. When neither is a checkout on the worker's machine the run fails with one line
that says what to set, instead of a ``FileNotFoundError`` deep inside Prefect.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "UTKAST_HOME"


class CheckoutNotFound(RuntimeError):
    """The worker cannot tell which folder holds utkast; the message says what to set."""


def is_checkout(folder: Path) -> bool:
    """A utkast checkout: the deployments and the flows they name."""
    return (folder / "prefect.yaml").is_file() and (folder / "flows" / "build.py").is_file()


def find_checkout(home: str | None, deployed_from: str | None) -> tuple[Path, str]:
    """The folder to run in and why: ``UTKAST_HOME`` when set, else the deployment's own folder.

    A ``UTKAST_HOME`` that is set but wrong is an error, not a reason to try elsewhere: it was
    set to say where utkast is. Raises :class:`CheckoutNotFound` with a one-line message.
    """
    home = (home or "").strip()
    if home:
        folder = Path(home).expanduser()
        if is_checkout(folder):
            return folder.resolve(), f"{ENV_HOME}={home}"
        raise CheckoutNotFound(f"{ENV_HOME}={home} is not a utkast checkout on this worker (no prefect.yaml and "
                               f"flows/ there): set {ENV_HOME} to the folder of this machine's utkast checkout")
    deployed = (deployed_from or "").strip()
    if deployed and is_checkout(Path(deployed)):
        return Path(deployed).resolve(), f"{ENV_HOME} is not set; the folder the deployments were made from"
    where = f"the folder the deployments were made from ({deployed}) is not a utkast checkout here" if deployed \
        else "the deployments do not say which folder they were made from"
    raise CheckoutNotFound(f"{ENV_HOME} is not set on this worker and {where}: set {ENV_HOME} to the folder of this "
                           f"machine's utkast checkout in the worker's environment and start the run again")


def note_checkout() -> dict[str, str]:
    """Build step: the folder ``prefect deploy`` runs in (the checkout the deployments come from)."""
    return {"directory": str(Path.cwd().resolve())}


def enter_checkout(deployed_from: str = "") -> dict[str, str]:
    """Pull step: change into the checkout (see :func:`find_checkout`); fail the run clearly if none."""
    try:
        folder, why = find_checkout(os.environ.get(ENV_HOME), deployed_from)
    except CheckoutNotFound as exc:
        _tell_the_run(str(exc), failed=True)
        raise
    os.chdir(folder)
    _tell_the_run(f"Running from {folder} ({why})")
    return {"directory": str(folder)}


def _tell_the_run(message: str, failed: bool = False) -> None:
    """Write ``message`` to the flow run's log; with ``failed``, also make it the run's Failed state.

    The state message is what the UI's run list shows. Best effort: without a run or an API,
    the worker's own output and the raised error are all there is.
    """
    import logging
    from uuid import UUID

    run_id = os.environ.get("PREFECT__FLOW_RUN_ID")
    if not run_id:
        logging.getLogger("utkast").info(message)
        return
    try:
        from prefect.client.orchestration import get_client
        from prefect.logging.loggers import flow_run_logger
        from prefect.states import Failed

        with get_client(sync_client=True) as client:
            run_log = flow_run_logger(client.read_flow_run(UUID(run_id)))
            if failed:
                run_log.error(message)
                client.set_flow_run_state(UUID(run_id), Failed(message=message))
            else:
                run_log.info(message)
    except Exception:  # noqa: BLE001 - telling is best effort; the run goes on or fails regardless
        logging.getLogger("utkast").info(message)
