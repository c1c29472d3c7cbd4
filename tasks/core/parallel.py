"""How much runs side by side on this machine, and whether a process still runs."""

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


def process_running(pid) -> bool:
    """Whether a process with this PID runs on this machine (a PID of another user's counts)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
