"""The pipeline steps of utkast as plain functions (no Prefect import here).

Data flows inbox -> intake -> normalise -> merge -> publish; ``flows/`` wires these
functions into Prefect flows and the ``utkast`` command line.
"""

__version__ = "0.1.0"
