"""How much runs side by side on this machine."""

from __future__ import annotations

import os


def workers() -> int:
    """Processes or threads to run side by side: one per core, at most 8 (pandoc batches,
    the draft's formats, the personal-data scan, the flows' task runners)."""
    return max(1, min(os.cpu_count() or 1, 8))
