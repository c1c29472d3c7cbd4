"""Prefect flows and the ``utkast`` command line: wiring only; the steps are in ``tasks/``."""
