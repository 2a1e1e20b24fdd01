"""The photo of a reading (抄表照片, issue 18 point 2): journaled with the reading, sent in its own lane.

A JPEG within :data:`drivers.scanner.photo.PHOTO_BUDGET` (30 000 bytes, from ``photo.compress``) is
cut into chunks of :data:`CHUNK_BYTES` and journaled as one PHOTO_UPLOAD entry per chunk — all in
ONE journal transaction with the reading itself (``Journal.capture_with``), each ``depends_on`` the
reading's txn.  The sync engine sends them only when no money or reading waits, one chunk per exchange
(offline_queue.sync, the photo lane); the station stores each chunk once, assembles the photo,
checks its sha256 and that it decodes (docs/protocol.md, 0106).  Resumable for free: a chunk is a
journal entry, so after a restart only chunks not yet applied are sent (an in-flight one is asked
about with TXN_STATUS first), and each answer lists the chunks the station holds.
"""

from __future__ import annotations

import base64
import hashlib

from drivers.scanner.photo import PHOTO_BUDGET, compress
from offline_queue.sync import PHOTO_KIND
from terminal_app.errors import BusinessRuleError
from terminal_app.services.ports import UseCaseContext
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast

#: bytes of JPEG per PHOTO_UPLOAD: 4 KB ≈ 3 s of one GPRS slot — the most a payment can wait
CHUNK_BYTES = 4096


def chunk_bodies(reading_txn: str, jpeg: bytes, chunk: int = CHUNK_BYTES) -> list[dict[str, object]]:
    """The PHOTO_UPLOAD bodies (without txn) of ``jpeg``, in order."""
    digest = hashlib.sha256(jpeg).hexdigest()
    parts = [jpeg[i:i + chunk] for i in range(0, len(jpeg), chunk)]
    return [{"reading": reading_txn, "sha256": digest, "size": len(jpeg), "index": n, "count": len(parts),
             "data": base64.b64encode(p).decode("ascii")} for n, p in enumerate(parts)]


def check_photo(jpeg: bytes) -> None:
    if not jpeg or len(jpeg) > PHOTO_BUDGET or not jpeg.startswith(b"\xff\xd8"):
        raise BusinessRuleError("The photo is not a JPEG of at most {budget} bytes.",
                                "Take the photo again.", budget=PHOTO_BUDGET)


def capture_reading_with_photo(ctx: UseCaseContext, reading_body: bytes, jpeg: bytes) -> tuple[str, list[str]]:
    """Journal a reading (its READINGS_UPLOAD body) and ``jpeg`` as its photo in ONE transaction
    (Journal.capture_with): a crash keeps both or neither.  The reading's txn and the chunks' txns."""
    check_photo(jpeg)
    reading, chunks = ctx.journal.capture_with(
        "reading", MsgType.READINGS_UPLOAD, reading_body, PHOTO_KIND, MsgType.PHOTO_UPLOAD,
        lambda txn: [encode_body_fast(b) for b in chunk_bodies(txn, jpeg)])
    return reading.txn, [e.txn for e in chunks]


def attach_photo(ctx: UseCaseContext, reading_txn: str, jpeg: bytes) -> list[str]:
    """Journal ``jpeg`` as the photo of the reading journaled earlier as ``reading_txn``; the chunks' txns."""
    check_photo(jpeg)
    entry = ctx.journal.get(reading_txn)
    if entry is None or entry.msg_type != MsgType.READINGS_UPLOAD:
        raise BusinessRuleError("Reading {txn} is not in the journal.", "Take the reading first, then its photo.",
                                txn=reading_txn)
    entries = ctx.journal.capture_group(PHOTO_KIND, MsgType.PHOTO_UPLOAD,
                                        [encode_body_fast(b) for b in chunk_bodies(reading_txn, jpeg)],
                                        depends_on=reading_txn)
    if ctx.sync is not None:
        ctx.sync.notify_captured()
    return [e.txn for e in entries]


def take_photo(url: str, timeout: float) -> bytes:
    """ONE still from the camera ``url`` names (drivers.scanner.still: a V4L2 device or a network
    camera), compressed for GPRS (within PHOTO_BUDGET): what :func:`attach_photo` journals."""
    from drivers.scanner.still import still

    return compress(still(url, timeout))
