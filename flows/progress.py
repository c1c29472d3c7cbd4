"""Progress messages for people: to the terminal (``utkast`` logger) and the Prefect run log."""

from __future__ import annotations

import logging

log = logging.getLogger("utkast")


def progress(message: str, *args) -> None:
    log.info(message, *args)
    try:
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger

        get_run_logger().info(message, *args)
    except (MissingContextError, RuntimeError, ImportError):
        pass
