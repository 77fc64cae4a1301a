"""The run lock of a store: one holder at a time, released with its holder, naming the holder when refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from synsweep.sweeps import StoreError
from synsweep.sweeps.lock import acquire, holder, is_locked
from synsweep.sweeps.store import META_GROUP


@pytest.fixture
def store(tmp_path):
    (tmp_path / "s.zarr" / META_GROUP).mkdir(parents=True)
    return tmp_path / "s.zarr"


def test_a_second_holder_is_refused_with_the_first_ones_name(store):
    lock = acquire(store)
    assert is_locked(store)
    info = holder(store)
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname() and info["started"]
    with pytest.raises(StoreError, match=rf"pid {os.getpid()} on host {socket.gethostname()}, started"):
        acquire(store)  # a second open file description in the same process is refused too
    lock.release()
    assert not is_locked(store) and holder(store)["pid"] == os.getpid()  # the record stays
    acquire(store).release()


def test_the_lock_dies_with_its_process(store):
    code = ("import os, sys; from synsweep.sweeps.lock import acquire; acquire(sys.argv[1]); "
            "print(os.getpid(), flush=True); os._exit(0)")  # no release: the process just ends
    proc = subprocess.run([sys.executable, "-c", code, str(store)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert holder(store)["pid"] == int(proc.stdout)  # the dead holder is still named in the file ...
    assert not is_locked(store)  # ... but holds nothing
    acquire(store).release()
