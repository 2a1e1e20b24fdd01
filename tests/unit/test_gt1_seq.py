"""FileSeqCounter: durable, monotonic, never hands out a seq twice."""

from __future__ import annotations

import threading

import pytest

from terminal_app.errors import StorageError
from terminal_app.station.seq import MAX_SEQ, FileSeqCounter
from terminal_app.station.transport import SeqCounter


def test_reserve_is_persisted_before_it_returns(tmp_path):
    path = tmp_path / "state" / "seq"
    c: SeqCounter = FileSeqCounter(path)  # satisfies the transport module's interface
    assert list(c.reserve()) == [1]
    assert list(c.reserve(3)) == [2, 3, 4]
    assert path.read_text() == "4\n"  # on disk already: a crash now cannot reuse 1..4
    assert list(FileSeqCounter(path).reserve(2)) == [5, 6]  # a new process continues after it
    assert not list(tmp_path.glob("state/.*.tmp"))  # atomic replace left no temporary file
    with pytest.raises(ValueError):
        c.reserve(0)


def test_move_past_only_moves_forward(tmp_path):
    c = FileSeqCounter(tmp_path / "seq")
    c.reserve(10)
    c.move_past(5)
    assert c.current() == 10
    c.move_past(100)
    assert list(c.reserve()) == [101]
    with pytest.raises(ValueError):
        c.move_past(-1)


def test_threads_never_share_a_seq(tmp_path):
    c = FileSeqCounter(tmp_path / "seq")
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        other = FileSeqCounter(tmp_path / "seq")  # separate objects: the file lock serialises them
        for _ in range(20):
            r = (c if len(got) % 2 else other).reserve(2)
            with lock:
                got.extend(r)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(got) == list(range(1, 161))


def test_corrupt_or_exhausted_counter_is_a_storage_error(tmp_path):
    path = tmp_path / "seq"
    path.write_text("12x\n")
    with pytest.raises(StorageError, match="corrupt"):
        FileSeqCounter(path).reserve()
    path.write_text(f"{MAX_SEQ - 1}\n")
    c = FileSeqCounter(path)
    assert list(c.reserve()) == [MAX_SEQ]
    with pytest.raises(StorageError, match="exhausted"):
        c.reserve()
    assert path.read_text() == f"{MAX_SEQ}\n"


def test_unwritable_directory_is_a_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError):
        FileSeqCounter(blocker / "seq").reserve()
