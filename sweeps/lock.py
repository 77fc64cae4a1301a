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

On object storage (an ``s3://`` store, ``synsweep.sweeps.location``) there is no ``flock``: the lock is a lease,
the object ``.synsweep/lock`` holding the holder's details, a random token and ``expires`` (UTC). It is taken
with a create-if-absent write, renewed every LEASE_SECONDS / 3 by a thread of the running driver with a
write conditional on the lease's ETag, and deleted on release. A run finding an expired lease (its holder
died without releasing it) takes it over with the same conditional write, so of two successors only one
wins. A driver whose renewal fails (another run took the lease over after it could not renew in time)
is told through ``StoreLock.lost``. Hosts' clocks must agree to well within LEASE_SECONDS (NTP).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .location import Conflict, Location, location
from .store import META_GROUP, StoreError

LOCK_FILE = "lock"
LOCK_KEY = f"{META_GROUP}/{LOCK_FILE}"


def lease_seconds() -> float:
    """How long a lease on object storage lasts unrenewed: ``SYNSWEEP_LEASE_SECONDS``, default 60 s."""
    return float(os.environ.get("SYNSWEEP_LEASE_SECONDS", "60"))
_UNSUPPORTED = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}


class LockWarning(UserWarning):
    """The store's file system cannot lock files: concurrent runs are not detected."""


@dataclass
class StoreLock:
    """A held run lock; ``release`` (or the end of the process) frees it."""

    path: Path | str
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


@dataclass
class Lease(StoreLock):
    """A held lease on object storage, renewed by a daemon thread until ``release``."""

    loc: Location | None = None
    info: dict = field(default_factory=dict)
    version: object = None
    lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _renew_forever(self) -> None:
        while not self._stop.wait(lease_seconds() / 3):
            info = {**self.info, "expires": _expiry()}
            try:
                self.version = self.loc.write_if(LOCK_KEY, json.dumps(info).encode(), self.version)
            except Conflict:  # taken over after this run failed to renew in time: stop claiming it
                self.lost.set()
                return
            except Exception:  # a network error: try again next period (the lease is still ours until then)
                continue

    def start(self) -> None:
        self._thread = threading.Thread(target=self._renew_forever, name="synsweep-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.loc is not None and not self.lost.is_set():
            data, _ = self.loc.read_versioned(LOCK_KEY)
            if data is not None and _parse(data).get("token") == self.info.get("token"):
                self.loc.delete(LOCK_KEY)
            self.loc = None


def _expiry() -> str:
    return (datetime.now(UTC) + timedelta(seconds=lease_seconds())).isoformat()


def _parse(data: bytes | None) -> dict:
    try:
        out = json.loads(data or b"null")
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def _expired(info: dict) -> bool:
    try:
        return datetime.fromisoformat(info["expires"]) < datetime.now(UTC)
    except (KeyError, TypeError, ValueError):
        return True  # a lease without a readable expiry protects nothing


def lock_path(store: str | os.PathLike | Location) -> Path:
    return location(store).path / META_GROUP / LOCK_FILE


def holder(store: str | os.PathLike | Location) -> dict | None:
    """Who holds (or last held) the lock of ``store``: host, pid, started, command; None if never taken."""
    loc = location(store)
    if not loc.is_local:
        return _parse(loc.read(LOCK_KEY)) or None
    try:
        return json.loads(lock_path(loc).read_text() or "null")
    except (OSError, ValueError):
        return None


def is_locked(store: str | os.PathLike | Location) -> bool:
    """Whether a run holds the lock of ``store`` now (False where locks are unsupported)."""
    loc = location(store)
    if not loc.is_local:
        info = _parse(loc.read(LOCK_KEY))
        return bool(info) and not _expired(info)
    path = lock_path(loc)
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


def _holder_info() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"}


def _acquire_lease(loc: Location) -> Lease:
    """Create the lease object if absent, or take over an expired one; both conditional on what was read."""
    info = {**_holder_info(), "token": uuid.uuid4().hex}
    data, version = loc.read_versioned(LOCK_KEY)
    current = _parse(data)
    if data is not None and not _expired(current):
        raise StoreError(
            f"Another synsweep run is writing to {loc}: {describe_holder(current)}. Two runs on one store would "
            f"compute the same chunks twice. Wait for that run to finish (or stop it), then run again with "
            f"--resume to compute whatever is still missing. Its lease ({loc}/{LOCK_KEY}) expires "
            f"{lease_seconds():.0f} s after that run last renewed it, so a run that was killed stops blocking "
            f"the store by {current.get('expires')}.")
    try:
        version = loc.write_if(LOCK_KEY, json.dumps({**info, "expires": _expiry()}).encode(), version)
    except Conflict:  # another run created or took over the lease between the read and the write
        raise StoreError(f"Another synsweep run took the lease of {loc} just now: "
                         f"{describe_holder(holder(loc))}. Wait for that run to finish, then run again with "
                         f"--resume.") from None
    lease = Lease(f"{loc}/{LOCK_KEY}", None, loc=loc, info=info, version=version)
    lease.start()
    return lease


def acquire(store: str | os.PathLike | Location) -> StoreLock:
    """Take the run lock of the store at ``store`` (its ``.synsweep`` group must exist) or raise StoreError."""
    loc = location(store)
    if not loc.is_local:
        return _acquire_lease(loc)
    path = lock_path(loc)
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
    data = json.dumps(_holder_info()).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    return StoreLock(path, fd)
