"""Files at the edge: bounded reads, locks, durable renames, paths that stay put.

Everything here is plain ``os``: no exodiff imports, so every stage can use
it (stage 0 of docs/dev/architecture.md).

- :func:`read_bounded` reads a *regular* file of at most ``limit`` bytes:
  a device (``/dev/zero``), a FIFO or a socket is refused without reading
  (a FIFO is opened non-blocking, so no writer is waited for), and a file
  over the limit is refused from its size before it is read.
- :class:`DirLock` is an exclusive ``fcntl.flock`` on a lock file, taken
  without waiting: a second process writing the same outputs is refused at
  once instead of mixing its files with the first's.
- :func:`fsync_file`, :func:`fsync_dir` and :func:`exchange` make a rename
  durable and, for a directory, atomic (``renameat2(RENAME_EXCHANGE)`` on
  Linux; elsewhere two renames).
- :func:`is_within` says whether a path stays inside a folder (symlinks
  resolved), for paths a scenario file chooses.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
from pathlib import Path

__all__ = ["FileRefused", "read_bounded", "format_bytes", "DirLock", "LockHeld", "claim_directory", "remove_made",
           "fsync_file", "fsync_dir", "exchange", "is_within", "path_problem"]


class FileRefused(OSError):
    """A file that is not read: not a regular file, or larger than the limit; ``str`` says why."""


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``: binary prefixes, three significant digits."""
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024.0 or unit == "PiB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024.0
    return f"{n:.3g} PiB"  # pragma: no cover (the loop returns)


def read_bounded(path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Raises
    ------
    FileNotFoundError, PermissionError, IsADirectoryError, OSError
        As ``open`` would.
    FileRefused
        Not a regular file, or larger than ``limit``.
    """
    fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", os.fspath(path))
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused("not a regular file (a device, FIFO or socket)")
        if st.st_size > limit:
            raise FileRefused(f"{format_bytes(st.st_size)}, larger than the limit of {format_bytes(limit)}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while being read
            raise FileRefused(f"larger than the limit of {format_bytes(limit)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def path_problem(path) -> str | None:
    """Why the system cannot take ``path`` as a file name, or None: a NUL byte (``ValueError`` from every
    call), a component longer than the file system's 255 bytes (``OSError`` errno 36 after the work was done)."""
    text = os.fspath(path)
    if "\x00" in text:
        return "holds a NUL byte"
    for part in Path(text).parts:
        if len(os.fsencode(part)) > 255:
            return f"has a name of {len(os.fsencode(part))} bytes (at most 255)"
    return None


def is_within(path, folder) -> bool:
    """Whether ``path`` (resolved, symlinks followed) lies in ``folder`` (resolved) or is it."""
    p = Path(os.path.realpath(os.fspath(path)))
    f = Path(os.path.realpath(os.fspath(folder)))
    return p == f or f in p.parents


# --------------------------------------------------------------------------
# Durable renames


def fsync_file(path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path) -> None:
    """Flush a directory's entries (after a rename into it); a no-op where directories cannot be opened."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_renameat2 = None


def _libc_renameat2():
    global _renameat2
    if _renameat2 is None:
        fn = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
        except (OSError, AttributeError):
            fn = False
        _renameat2 = fn
    return _renameat2 or None


def exchange(a, b) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2``); False where that is not available."""
    fn = _libc_renameat2()
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(os.fspath(a)), _AT_FDCWD, os.fsencode(os.fspath(b)), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # an old kernel or a file system without it
    raise OSError(err, os.strerror(err), os.fspath(b))


# --------------------------------------------------------------------------
# Locks


class LockHeld(OSError):
    """Another process holds the lock."""


class DirLock:
    """An exclusive, non-waiting ``flock`` on ``path`` (created if missing; removed on release).

    The lock is on the file's inode; after taking it the path is checked to
    still name that inode (a releasing holder may have just removed it), so
    two processes never both believe they hold it.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self) -> "DirLock":
        import fcntl

        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise LockHeld(errno.EWOULDBLOCK, "held by another process", str(self.path)) from None
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return self
            os.close(fd)  # removed by its last holder meanwhile: take the new file
        raise LockHeld(errno.EWOULDBLOCK, "changing hands too often", str(self.path))

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def __enter__(self) -> "DirLock":
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc) -> None:
        self.release()


def claim_directory(directory, label=None, writer: str = "exodiff process") -> tuple[DirLock, list[Path]]:
    """Take the lock ``.NAME.lock`` beside ``directory``, making its missing parent folders.

    Returns the held lock and the folders made (for :func:`remove_made`).

    Raises
    ------
    UserError
        Another process holds the lock, or the folder cannot be written
        (the message starts with ``label``, default the directory).
    """
    from exodiff.errors import UserError

    d = Path(directory)
    label = d if label is None else label
    parent, made = d.parent, []
    try:
        for p in reversed([p for p in (parent, *parent.parents) if not p.exists()]):
            p.mkdir()
            made.append(p)
        return DirLock(parent / f".{d.name}.lock").acquire(), made
    except LockHeld:
        remove_made(made)
        raise UserError(f"{label}: another {writer} is writing this directory (lock {parent / ('.' + d.name)}"
                        ".lock); wait for it to finish or give another -o DIR") from None
    except OSError as exc:
        remove_made(made)
        raise UserError(f"{label}: cannot write here ({exc.strerror or exc}); expected a writable directory "
                        "(-o DIR)") from None


def remove_made(made: list[Path]) -> None:
    """Remove folders :func:`claim_directory` made, deepest first, while they are empty."""
    for p in reversed(made):
        try:
            p.rmdir()
        except OSError:
            break
