"""One run per store at a time: an exclusive lock on ``<store>/.synsweep/lock``, held for the whole run.

    lock = acquire(path)      # StoreError naming the holder (host, pid, start, command) when it is taken
    ...
    lock.release()

Two runs on one store (two ``synsweep run --resume`` started by accident, a resubmitted batch job, an
``--overwrite`` of a store that is being written) would compute the same chunks twice or delete finished work;
the second run is refused before it changes anything.

Mechanism: an advisory ``flock`` on the file, taken without waiting. The operating system releases it when the
holding process ends, however it ends (exit, exception, SIGKILL, a walltime kill), so a lock left by a dead run
never blocks a resume on a local disk; on NFS the server drops a dead client's lock when its lease runs out
(about 90 s by default). The file stays in the store (deleting a lock file that another process may have open
would break the exclusion) and holds the holder's host, pid, start time and command line as JSON, read only
for the message a refused run prints. Where the file system has no ``flock`` (Lustre mounted without
``-o flock``) the run goes on unguarded, with a warning.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .store import META_GROUP, StoreError

LOCK_FILE = "lock"
_UNSUPPORTED = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}


class LockWarning(UserWarning):
    """The store's file system cannot lock files: concurrent runs are not detected."""


@dataclass
class StoreLock:
    """A held run lock; ``release`` (or the end of the process) frees it."""

    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def lock_path(store: str | os.PathLike) -> Path:
    return Path(store) / META_GROUP / LOCK_FILE


def holder(store: str | os.PathLike) -> dict | None:
    """Who holds (or last held) the lock of ``store``: host, pid, started, command; None if never taken."""
    try:
        return json.loads(lock_path(store).read_text() or "null")
    except (OSError, ValueError):
        return None


def is_locked(store: str | os.PathLike) -> bool:
    """Whether a run holds the lock of ``store`` now (False where locks are unsupported)."""
    path = lock_path(store)
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops a lock taken just now
    return False


def describe_holder(info: dict | None) -> str:
    if not info:
        return "a run that is just starting"
    return (f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')} "
            f"({info.get('command')})")


def acquire(store: str | os.PathLike) -> StoreLock:
    """Take the run lock of the store at ``store`` (its ``.synsweep`` group must exist) or raise StoreError."""
    path = lock_path(store)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"Another synsweep run is writing to {store}: {describe_holder(holder(store))}. Two runs on one "
            f"store would compute the same chunks twice. Wait for that run to finish (or stop it), then run "
            f"again with --resume to compute whatever is still missing. The lock ({path}) is released "
            f"when that process ends, even if it is killed; on a network file system a crashed host's lock "
            f"expires after the server's lease time (about 90 s).") from None
    except OSError as exc:
        os.close(fd)
        if exc.errno not in _UNSUPPORTED:
            raise
        warnings.warn(f"the file system of {store} does not support file locks ({exc.strerror}); a second "
                      f"run started on this store would not be detected", LockWarning, stacklevel=2)
        return StoreLock(path, None)
    info = {"host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"}
    data = json.dumps(info).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    return StoreLock(path, fd)
