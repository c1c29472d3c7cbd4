"""The pipeline's memory between runs, kept with the outputs (``cache/state.json``).

It records what each inbox file was (size, change token, hash, screening verdict) and
which normalised report came from which hash, so unchanged work is never redone. It is
only a cache: deleting it costs one full run, never correctness. It is written after the
outputs it describes, so a run killed half-way leaves nothing that a later run trusts.
"""

from __future__ import annotations

import json

from tasks.storage.base import Storage

STATE_KEY = "cache/state.json"


def load_state(out: Storage) -> dict:
    text = out.read_text(STATE_KEY)
    if not text:
        return {}
    try:
        state = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return state if isinstance(state, dict) else {}


def dump_state(state: dict) -> bytes:
    """The stored form of ``state`` (stable: equal states give equal bytes)."""
    return json.dumps(state, ensure_ascii=False, sort_keys=True).encode("utf-8")


def save_state(out: Storage, state: dict, loaded: bytes | None = None) -> bool:
    """Write ``state`` unless it equals ``loaded`` (its stored form when the run began), so
    a run that learnt nothing writes nothing. Returns whether it wrote."""
    data = dump_state(state)
    if loaded is not None and data == loaded:
        return False
    out.write(STATE_KEY, data, "application/json")
    return True
