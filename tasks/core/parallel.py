"""How much runs side by side on this machine."""

from __future__ import annotations

import os


def workers() -> int:
    """Processes or threads to run side by side: one per core, at most 8 (pandoc batches,
    the draft's formats, the personal-data scan, the flows' task runners)."""
    return max(1, min(os.cpu_count() or 1, 8))


def interleaved(items: list, parts: int) -> list[list]:
    """``items`` in at most ``parts`` batches, dealt round-robin: neighbours in the inbox tend
    to be alike (one partner, one format), so contiguous slices would finish at different
    times. No empty batch."""
    n = max(1, min(parts, len(items)))
    return [items[i::n] for i in range(n)] if items else []
