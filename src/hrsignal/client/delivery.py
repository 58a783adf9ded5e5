"""Delivering one chunk, splitting it when the server refuses part of it.

* 413 (too large): the chunk is halved, each half sent and acknowledged on its own, down to
  single records.
* 400 with ``--quarantine``: the chunk is bisected the same way to find the records the
  server refuses; each such record is set aside in a quarantine file (the original header
  plus the refused rows, ready to fix and upload again) and the rest is delivered. Without
  ``--quarantine`` a 400 stops the upload with the chunk unsent (the official script's
  "poison chunk" then blocked every later record forever; here the choice is explicit).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hrsignal.client.chunks import Chunk
from hrsignal.client.transport import Delivery, Sender
from hrsignal.errors import RemoteRejectedError, StoreError

#: A bisection that quarantines more than this many records is not a few bad rows: stop.
QUARANTINE_LIMIT = 100


@dataclass(slots=True)
class Piece:
    """An acknowledged part of a chunk, or a record the server refused (quarantined)."""

    chunk: Chunk
    delivery: Delivery | None = None
    refused: RemoteRejectedError | None = None


class Quarantine:
    """Records the server refused, appended to a CSV under the file's original header."""

    def __init__(self, path: Path, limit: int = QUARANTINE_LIMIT) -> None:
        self.path = path
        self.limit = limit
        self.count = 0

    def add(self, piece: Piece) -> None:
        """Append the refused record(s), flushed and synced before the checkpoint moves."""
        self.count += piece.chunk.records
        header, _, rows = piece.chunk.csv.partition(b"\n")
        try:
            new = not self.path.exists() or self.path.stat().st_size == 0
            with open(self.path, "ab") as fh:
                if new:
                    fh.write(header + b"\n")
                fh.write(rows)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write the quarantine file {self.path}: {exc}") from None


def deliver(
    sender: Sender, chunk: Chunk, stem: str, quarantine: Quarantine | None
) -> Iterator[Piece]:
    """Send ``chunk``; split it on 413, and on 400 when quarantining. Pieces come in record
    order, so the checkpoint can advance after each."""
    try:
        yield Piece(chunk, sender.send(chunk.csv, f"{stem}.part{chunk.name}.csv"))
    except RemoteRejectedError as exc:
        splittable = chunk.table is not None
        if exc.status == 413 and splittable and chunk.records > 1:
            pass
        elif exc.status == 400 and quarantine is not None and splittable:
            if chunk.records == 1:
                if quarantine.count >= quarantine.limit:
                    raise RemoteRejectedError(
                        f"the server refused more than {quarantine.limit} records one by one; "
                        f"this is not a few bad rows: {exc.message}",
                        status=exc.status,
                        body=exc.body,
                        hint="check the connector's mapping and the server's error body",
                    ) from None
                yield Piece(chunk, refused=exc)
                return
        else:
            raise
        first, second = chunk.halves()
        yield from deliver(sender, first, stem, quarantine)
        yield from deliver(sender, second, stem, quarantine)
