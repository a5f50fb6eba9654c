"""The files recordings and screenshots create: never one that exists, never one another recording holds.

``create_new`` opens a name only if no file has it (O_EXCL), or the first free of ``stem-2``,
``stem-3``, …; nothing can take the name between choosing it and writing. ``StagedFile`` is how
``record --out`` writes: into ``NAME.part`` beside the target, locked while it is written, moved to
the target's name when the recording ends. A recording killed before that leaves its ``.part``,
which plays.
"""

from __future__ import annotations

import errno
import os
from itertools import count
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:             # Windows: no advisory locks; the .part's exclusive creation still guards it
    fcntl = None

from app.errors import UserError

PART_SUFFIX = ".part"


def create_new(path: Path, *, numbered: bool = False) -> tuple[Path, BinaryIO]:
    """``path`` created and opened for writing only if no file has that name; with ``numbered``, the
    first free of path, stem-2, stem-3, …. Raises FileExistsError (not numbered) or another OSError."""
    for n in count(1):
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            return candidate, open(candidate, "xb")
        except FileExistsError:
            if not numbered:
                raise
    raise AssertionError("unreachable")


def part_path(target: Path) -> Path:
    return target.with_name(target.name + PART_SUFFIX)


class StagedFile:
    """``target`` written as ``target.part``: claimed with a lock that lasts as long as this file is
    open, and moved to ``target`` by ``finish``.

    Refused (UserError): a target that exists, unless ``overwrite``; a ``.part`` another recording
    holds (locked), always; a ``.part`` left by a recording that was killed, unless ``overwrite``
    (it plays and may be all that is left of that recording)."""

    def __init__(self, target: Path, *, overwrite: bool = False):
        self.target = target
        self.part = part_path(target)
        self.overwrite = overwrite
        _check_target(target, overwrite)
        self.file = self._claim()

    def _claim(self) -> BinaryIO:
        created = True
        try:
            fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            created = False
            fd = os.open(self.part, os.O_WRONLY | getattr(os, "O_BINARY", 0))   # not truncated: maybe not ours
        try:
            if not _lock(fd):
                raise _held(self.target)
            if not created:
                if not self.overwrite:
                    raise _left_over(self.part)
                os.ftruncate(fd, 0)
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "wb")

    def finish(self) -> Path:
        """Moves the written file to the target (the file still open, so the lock holds till it is
        there); returns where the file is now: the target, or the .part where a file took the
        target's name meanwhile and ``overwrite`` is off."""
        if self.overwrite:
            os.replace(self.part, self.target)
            return self.target
        try:
            os.link(self.part, self.target)        # fails where the name is taken: never replaces
        except FileExistsError:
            return self.part
        except OSError:                            # a file system without hard links
            if self.target.exists():
                return self.part
            os.replace(self.part, self.target)
            return self.target
        os.unlink(self.part)
        return self.target


def check_free(target: Path, *, overwrite: bool = False) -> None:
    """StagedFile's refusals without claiming anything: for a command to refuse at once, before a
    long start-up, what it would be refused later."""
    _check_target(target, overwrite)
    part = part_path(target)
    try:
        fd = os.open(part, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:                    # none there; or one it cannot open, which claiming it will say
        return
    try:
        if not _lock(fd):
            raise _held(target)
    finally:
        os.close(fd)                   # the lock, if taken, goes with it
    if not overwrite:
        raise _left_over(part)


def _check_target(target: Path, overwrite: bool) -> None:
    if target.is_dir():
        raise UserError(f"'{target}' is a folder: give a file name, e.g. {target / 'dream.mp4'}")
    if target.exists() and not overwrite:
        raise UserError(f"'{target}' already exists: record to another --out, or add --overwrite to replace it")


def _lock(fd: int) -> bool:
    """An exclusive lock on ``fd`` without waiting; False where another process holds one."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _held(target: Path) -> UserError:
    return UserError(f"another recording is writing '{target}' now ({part_path(target).name} is locked): wait "
                     f"for it to end or choose another --out")


def _left_over(part: Path) -> UserError:
    return UserError(f"'{part}' is left from an interrupted recording (it plays): move or delete it, or add "
                     f"--overwrite to replace it")
