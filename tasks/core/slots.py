"""A slot: one partner's report for one piece of the outline (``myrorna`` + ``1.3``).

Slots key the pipeline's memory, the tracker, the manifest and the review outputs as
``partner/piece`` (:attr:`Slot.key`), and people read them as ``1.3 Myrorna``
(:meth:`Slot.label`). This module is the one home of both forms.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple


class Slot(NamedTuple):
    partner: str  # the partner's slug (its inbox folder)
    piece: str  # the piece of the outline, "1.3"

    @property
    def key(self) -> str:
        """``myrorna/1.3``: how a slot is stored (JSON keys, state, manifest)."""
        return f"{self.partner}/{self.piece}"

    @classmethod
    def parse(cls, key: str) -> Slot:
        """The slot of a stored key ``partner/piece``."""
        partner, piece = key.split("/", 1)
        return cls(partner, piece)

    def label(self, names: Mapping[str, str]) -> str:
        """``1.3 Myrorna``: how people read a slot (``names``: slug -> short name)."""
        return f"{self.piece} {names.get(self.partner, self.partner)}"

    def outline_order(self) -> tuple[str, str]:
        """Sort key: by piece, then partner."""
        return self.piece, self.partner


def slot_key(partner: str, piece: str) -> str:
    """``partner/piece``, the stored form of a slot."""
    return Slot(partner, piece).key


def slot_label(key: str, names: Mapping[str, str]) -> str:
    """``1.3 Myrorna`` for the stored key ``myrorna/1.3``."""
    return Slot.parse(key).label(names)


def in_outline_order(keys) -> list[str]:
    """Stored slot keys sorted by piece, then partner."""
    return sorted(keys, key=lambda k: Slot.parse(k).outline_order())
