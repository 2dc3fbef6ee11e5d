"""An import's uploaded file, kept sealed under the import's key in pieces (`ImportChunk`) and read
back a piece at a time: neither storing nor a run holds the whole file (a run holds a few pieces
ahead of the row it reads; a workbook, whose zip needs to seek, is spooled to a temporary file)."""

from __future__ import annotations

import io
import tempfile
import uuid
from collections import deque
from typing import BinaryIO

from sqlalchemy import delete, insert, select

from .. import crypto
from ..models import ImportChunk, ImportJob
from ..unit_of_work import UnitOfWork

CONTEXT = b"core_import_chunk.data"
PIECES_PER_READ = 4
SPOOLED_IN_MEMORY = 1 << 20  # a workbook's file beyond this goes to disk


async def store_source(uow: UnitOfWork, job: ImportJob, file: BinaryIO) -> None:
    """The file, from its start, sealed a piece at a time (one statement for each few pieces)."""
    size, key = uow.settings.import_chunk_bytes, job.data_key()
    assert key is not None, "create_import gives the import its key first"
    file.seek(0)
    seq = 0
    while True:
        pieces: list[dict] = []
        while len(pieces) < PIECES_PER_READ and (piece := file.read(size)):
            pieces.append({"import_id": job.id, "seq": seq, "sealed_data": crypto.encrypt(key, piece, CONTEXT)})
            seq += 1
        if not pieces:
            return
        await uow.session.execute(insert(ImportChunk), pieces)


async def wipe_source(uow: UnitOfWork, import_id: uuid.UUID) -> None:
    await uow.session.execute(delete(ImportChunk).where(ImportChunk.import_id == import_id))


class SourceStream(io.RawIOBase):
    """The file as a binary stream for the readers. `fill()` (awaited between rows) keeps at least
    `read_ahead` bytes ready; a row longer than that is refused rather than read half."""

    def __init__(self, runtime, import_id: uuid.UUID, data_key: bytes | None) -> None:
        if data_key is None:  # destroyed only with the import, but read from the database by the run
            raise RuntimeError(f"import {import_id}: its key was destroyed")
        super().__init__()
        self.runtime, self.import_id, self.data_key = runtime, import_id, data_key
        self.read_ahead = PIECES_PER_READ * runtime.settings.import_chunk_bytes
        self._pieces: deque[memoryview] = deque()
        self._ready = 0
        self._next_seq = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        if not self._pieces:
            if self._ended:
                return 0
            raise RuntimeError(f"import {self.import_id}: a row is longer than the read-ahead of {self.read_ahead} bytes")
        piece = self._pieces[0]
        count = min(len(target), len(piece))
        target[:count] = piece[:count]
        if count == len(piece):
            self._pieces.popleft()
        else:
            self._pieces[0] = piece[count:]
        self._ready -= count
        return count

    async def fill(self) -> None:
        while not self._ended and self._ready < self.read_ahead:
            async with self.runtime.read_session() as session:
                rows = (
                    await session.execute(
                        select(ImportChunk.seq, ImportChunk.sealed_data)
                        .where(ImportChunk.import_id == self.import_id, ImportChunk.seq >= self._next_seq)
                        .order_by(ImportChunk.seq)
                        .limit(PIECES_PER_READ)
                    )
                ).all()
            self._ended = len(rows) < PIECES_PER_READ
            for seq, sealed in rows:
                piece = crypto.decrypt_bytes(self.data_key, sealed, CONTEXT)
                self._pieces.append(memoryview(piece))
                self._ready += len(piece)
                self._next_seq = seq + 1

    async def spool(self) -> BinaryIO:
        """The whole file in a temporary file (a workbook, which is read by seeking), a few pieces at
        a time; on disk beyond `SPOOLED_IN_MEMORY`, gone once closed."""
        spooled = tempfile.SpooledTemporaryFile(max_size=SPOOLED_IN_MEMORY)  # noqa: SIM115  # the caller closes it
        while True:
            await self.fill()
            if not self._pieces:
                return spooled  # type: ignore[return-value]  # a binary SpooledTemporaryFile is a BinaryIO
            while self._pieces:
                spooled.write(self._pieces.popleft())
            self._ready = 0
