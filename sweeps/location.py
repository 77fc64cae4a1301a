"""Where a store lives: a local directory or an object-storage URL, and the few object operations the
bookkeeping needs on either.

    loc = location("out.zarr")                       # a directory (created on first write)
    loc = location("s3://bucket/sweeps/out.zarr")    # S3 (also gs://, az://, and the other obstore URLs)
    loc.zarr_store()                                 # the zarr store to open with zarr or xarray
    loc.read(".synsweep/lock"); loc.write_if(key, data, version)   # conditional writes (see below)

A URL names an object store through ``obstore`` (the optional extra ``s3``: ``pip install synsweep[s3]``).
Credentials, region and endpoint come only from the environment the process runs in (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP`` for a plain-http endpoint;
``GOOGLE_*`` and ``AZURE_*`` likewise): a location is passed to the workers as its URL, so no secret is ever
written into the store, a task graph or a log. Every worker must have the same environment.

Keys are ``/``-separated paths relative to the store root. Versions make read-modify-write safe without a file
system lock: ``read_versioned`` gives the bytes and a version, ``write_if(key, data, version)`` writes only if
the object is still at that version (``None``: only if it does not exist) and raises ``Conflict`` otherwise.
On object storage the version is the object's ETag and the condition is the server's (``If-Match``,
``If-None-Match``); on a local disk it is a digest of the file's bytes, compared and replaced under a
POSIX record lock of the store (``.synsweep/cas.lock``, one byte per key hash), and every write is a temporary
file renamed over the old one, so a killed writer never leaves a torn file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import StoreError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
CAS_LOCK = ".synsweep/cas.lock"
_LOCK_SLOTS = 1 << 20  # bytes of the lock file used as record locks (a key's slot: crc32 of the key)


def unwritable(path: Path, folder: bool = False) -> str | None:
    """Why ``path`` (a file to write, or with ``folder`` a folder to fill) cannot be created, or None: checked
    in the nearest folder that exists on the way to it (missing folders are created by the command), by
    creating and removing a file there, so that a read-only or virtual file system (/proc) and missing
    permissions are found before anything is computed."""
    parent = path.absolute() if folder else path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a regular file, not a folder, so nothing can be created below it"
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        return f"{parent} is on a read-only file system"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"this user may not create files in {parent}"
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        return f"no file can be created in {parent} ({exc.strerror or exc})"
    return None


class Conflict(Exception):
    """A conditional write found the object changed (or created) since it was read: read again, retry."""


class LocationError(ValueError):
    """A store location that cannot be used (unknown scheme, obstore missing)."""


def is_url(value: str | os.PathLike) -> bool:
    return isinstance(value, str) and bool(_URL.match(value))


def location(value: str | os.PathLike | Location) -> Location:
    """The Location of ``value``: a Location as is, a URL (``scheme://...``) as an object store, else a path.
    ``file://`` URLs are local paths."""
    if isinstance(value, Location):
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"a store's path or URL (str or path) was expected, got {type(value).__name__}")
    if is_url(value):
        text = str(value).rstrip("/")
        if text.startswith("file://"):
            return LocalLocation(text, Path(text[len("file://"):]))
        return ObjectLocation(text)
    return LocalLocation(str(value), Path(value))


@dataclass(frozen=True)
class Location:
    """A store's place; ``url`` is what the user gave (shown in messages, sent to the workers)."""

    url: str

    def __str__(self) -> str:
        return self.url

    @property
    def is_local(self) -> bool:
        return isinstance(self, LocalLocation)

    @property
    def name(self) -> str:
        """The last component of the path or URL (``out.zarr``)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    # every method below is implemented by both kinds
    def zarr_store(self, read_only: bool = False) -> Any:
        raise NotImplementedError

    def exists(self) -> bool:
        """Whether anything is stored at this location (a file, a non-empty directory, any object)."""
        raise NotImplementedError

    def read(self, key: str) -> bytes | None:
        return self.read_versioned(key)[0]

    def read_versioned(self, key: str) -> tuple[bytes | None, Any]:
        """The bytes of ``key`` (None: absent) and its version (None when absent)."""
        raise NotImplementedError

    def write(self, key: str, data: bytes) -> None:
        """Replace ``key`` with ``data`` atomically (a reader sees the old or the new bytes, whole)."""
        raise NotImplementedError

    def write_if(self, key: str, data: bytes, version: Any) -> Any:
        """Write ``data`` to ``key`` only if it is still at ``version`` (None: absent); its new version.
        Raises Conflict otherwise."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing if absent)."""
        raise NotImplementedError

    def names(self, prefix: str) -> list[str]:
        """The names of the objects directly under ``prefix`` (a ``/``-ended key), sorted."""
        raise NotImplementedError

    def count(self) -> int:
        """How many files (objects) the store holds; for benchmarks and reports."""
        raise NotImplementedError

    def remove_all(self) -> None:
        """Delete everything stored at this location."""
        raise NotImplementedError


# -- a local directory ---------------------------------------------------------------------------------------
_PROCESS_LOCKS: dict[str, tuple[int, threading.Lock]] = {}  # lock file -> (fd kept open, in-process lock)
_PROCESS_LOCKS_GUARD = threading.Lock()


def _lock_file(name: str) -> tuple[int, threading.Lock]:
    """This process's descriptor of the lock file ``name`` (created if missing) and its thread lock."""
    with _PROCESS_LOCKS_GUARD:
        entry = _PROCESS_LOCKS.get(name)
        if entry is None:
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            entry = (os.open(name, os.O_RDWR | os.O_CREAT, 0o644), threading.Lock())
            _PROCESS_LOCKS[name] = entry
        return entry


def _same_file(fd: int, name: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(name)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _forget_lock_file(name: str, fd: int) -> None:
    """Drop the descriptor of a lock file that was deleted (its store was removed); the next use opens anew."""
    with _PROCESS_LOCKS_GUARD:
        entry = _PROCESS_LOCKS.get(name)
        if entry is not None and entry[0] == fd:
            del _PROCESS_LOCKS[name]
            os.close(fd)


@dataclass(frozen=True)
class LocalLocation(Location):
    path: Path = Path(".")

    def zarr_store(self, read_only: bool = False) -> Any:
        import zarr.storage

        return zarr.storage.LocalStore(self.path, read_only=read_only)

    def exists(self) -> bool:
        return self.path.exists()

    def _file(self, key: str) -> Path:
        return self.path / key

    @staticmethod
    def _version(data: bytes) -> bytes:
        """A digest of the content: file metadata cannot serve (ext4 reuses a freed inode at once and its
        mtime ticks every few ms, so three quick writes can repeat inode, mtime and size), and equal content
        is all a conditional write needs."""
        return hashlib.blake2b(data, digest_size=16).digest()

    def read_versioned(self, key: str) -> tuple[bytes | None, Any]:
        try:
            data = self._file(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None, None
        return data, self._version(data)

    def write(self, key: str, data: bytes) -> None:
        f = self._file(key)
        f.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{f.name}.", suffix=".tmp", dir=f.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, f)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        """An exclusive POSIX record lock on the key's byte of ``.synsweep/cas.lock`` (between processes,
        also on NFS), and a thread lock within this process (record locks belong to the process). The file's
        descriptor stays open while the file is the store's: closing any descriptor of it would drop every
        record lock this process holds on it. A store deleted and created again at the same path (an
        ``--overwrite``) has a new lock file, so the descriptor is checked against the path once locked."""
        lock_file = str((self.path / CAS_LOCK).absolute())
        slot = zlib.crc32(key.encode()) % _LOCK_SLOTS
        while True:
            fd, thread_lock = _lock_file(lock_file)
            with thread_lock:
                fcntl.lockf(fd, fcntl.LOCK_EX, 1, slot)
                try:
                    if _same_file(fd, lock_file):
                        yield
                        return
                finally:
                    fcntl.lockf(fd, fcntl.LOCK_UN, 1, slot)
            _forget_lock_file(lock_file, fd)

    def write_if(self, key: str, data: bytes, version: Any) -> Any:
        with self._key_lock(key):
            if self.read_versioned(key)[1] != version:
                raise Conflict(key)
            self.write(key, data)
            return self._version(data)

    def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)

    def names(self, prefix: str) -> list[str]:
        d = self.path / prefix
        if not d.is_dir():
            return []
        return sorted(f.name for f in d.iterdir() if not f.name.startswith(".") and f.is_file())

    def count(self) -> int:
        return sum(len(files) for _, _, files in os.walk(self.path))

    def remove_all(self) -> None:
        if self.path.is_dir():
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()


# -- object storage ------------------------------------------------------------------------------------------
_STORES: dict[str, Any] = {}  # url -> obstore store, one per process (connection pools are reused)


def _obstore(url: str) -> Any:
    store = _STORES.get(url)
    if store is None:
        try:
            import obstore.store
        except ImportError:
            raise LocationError(
                f"{url}: object storage needs the obstore package; install synsweep with the 's3' extra "
                f"(pip install 'synsweep[s3]'), or give a local path") from None
        try:
            store = obstore.store.from_url(url)
        except Exception as exc:  # an unknown scheme, a malformed URL
            reason = str(exc).split("Debug source")[0].strip()  # obstore appends a debug dump
            raise LocationError(f"{url}: not a store location obstore understands ({reason}); give a local "
                                f"path or an s3://, gs:// or az:// URL") from None
        _STORES[url] = store
    return store


@dataclass(frozen=True)
class ObjectLocation(Location):
    @property
    def store(self) -> Any:
        return _obstore(self.url)

    def zarr_store(self, read_only: bool = False) -> Any:
        import zarr.storage

        return zarr.storage.ObjectStore(self.store, read_only=read_only)

    def exists(self) -> bool:
        """Whether anything is stored under the URL; a StoreError (a user error) when the object store cannot
        be reached or refuses access, the first contact of every command with it."""
        import obstore
        from obstore.exceptions import BaseError

        try:
            for batch in obstore.list(self.store, chunk_size=1):
                if batch:
                    return True
        except BaseError as exc:
            reason = str(exc).split("Debug source")[0].strip().splitlines()[0]  # obstore appends a debug dump
            raise StoreError(
                f"{self.url}: the object store cannot be reached or refuses access ({reason}); check the bucket "
                "name, the endpoint and the credentials in the environment (for S3: AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY and, for an S3-compatible service, AWS_ENDPOINT_URL)") from None
        return False

    def read_versioned(self, key: str) -> tuple[bytes | None, Any]:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            got = obstore.get(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return None, None
        return bytes(got.bytes()), got.meta["e_tag"]

    def write(self, key: str, data: bytes) -> None:
        import obstore

        obstore.put(self.store, key, data)  # a PUT is atomic: readers see the old or the new object

    def write_if(self, key: str, data: bytes, version: Any) -> Any:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        mode: Any = "create" if version is None else {"e_tag": version}
        try:
            return obstore.put(self.store, key, data, mode=mode)["e_tag"]
        except (AlreadyExistsError, PreconditionError, FileExistsError):
            raise Conflict(key) from None

    def delete(self, key: str) -> None:
        import obstore
        from obstore.exceptions import NotFoundError

        with contextlib.suppress(NotFoundError, FileNotFoundError):
            obstore.delete(self.store, key)

    def names(self, prefix: str) -> list[str]:
        import obstore

        out = obstore.list_with_delimiter(self.store, prefix=prefix.rstrip("/"))
        return sorted(m["path"].rsplit("/", 1)[-1] for m in out["objects"])

    def _paths(self) -> Iterator[str]:
        import obstore

        for batch in obstore.list(self.store):
            for meta in batch:
                yield meta["path"]

    def count(self) -> int:
        return sum(1 for _ in self._paths())

    def remove_all(self) -> None:
        import obstore

        paths = list(self._paths())
        for i in range(0, len(paths), 1000):
            obstore.delete(self.store, paths[i:i + 1000])
