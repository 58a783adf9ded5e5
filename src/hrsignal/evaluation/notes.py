"""Notes: what the harness met in the data and how it coped, one per quirk and place.

The CERT releases have known quirks (mixed date padding, a malformed start date in
``insiders.csv``, ragged answer files, CRLF/LF mixes). None of them stops the harness; each one
met is reported, so a reader can judge whether it changed a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Note:
    """One quirk met: its kind, where (a file), and what was done about it."""

    quirk: str
    where: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {"quirk": self.quirk, "where": self.where, "detail": self.detail}

    def __str__(self) -> str:
        return f"[{self.quirk}] {self.where}: {self.detail}"


@dataclass(slots=True)
class Notes:
    """The notes of one run, in the order met (one per quirk and place)."""

    items: list[Note] = field(default_factory=list)

    def add(self, quirk: str, where: str, detail: str) -> None:
        """Record a quirk met in ``where`` (a repeated quirk+place is kept once)."""
        if not any(n.quirk == quirk and n.where == where for n in self.items):
            self.items.append(Note(quirk, where, detail))

    def kinds(self) -> set[str]:
        """The distinct quirks met."""
        return {n.quirk for n in self.items}

    def to_list(self) -> list[dict[str, Any]]:
        """JSON shape."""
        return [n.to_dict() for n in self.items]
