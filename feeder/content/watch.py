"""Watching the content folder for changes with inotify, so that the daemon
reparses only the files events name instead of stat-ing the whole folder.

inotify watches one folder at a time: every folder under the content folder
gets its own watch, and a folder created or moved in gets one as it appears
(and is listed once, since files may have landed in it before its watch did).
The kernel drops events when its queue overflows; it then says so, and the
next round must be a full sweep. The content folder itself may be deleted,
moved or replaced (or a parent of it): the watcher then drops every watch,
says the folder is gone, and watches the folder found at the configured path
again as soon as there is one, which calls for a sweep too. `inotify_simple` is a thin ctypes wrapper:
it hands over every event, the overflow included, which higher-level
watchers do not all do.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from feeder.content.scan import ARTICLE_SUFFIXES, hidden_name

__all__ = ["Changes", "WatchUnavailable", "Watcher", "network_filesystem"]

log = logging.getLogger(__name__)

# Filesystems whose changes made on other machines inotify never sees.
_REMOTE = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "ceph", "glusterfs", "fuse.rclone",
           "virtiofs", "fuse.s3fs", "lustre", "gpfs")


class WatchUnavailable(Exception):
    """Events cannot be had for this folder; `fix` says what the operator can do."""

    def __init__(self, problem: str, fix: str):
        self.problem, self.fix = problem, fix
        super().__init__(f"{problem}; {fix}")


@dataclass
class Changes:
    """What events said changed, as paths relative to the content folder."""

    files: set[str] = field(default_factory=set)  # created, written, renamed in, touched (or gone)
    folders: set[str] = field(default_factory=set)  # created or moved in: list what they hold
    gone_folders: set[str] = field(default_factory=set)  # deleted or moved out: forget what they held
    lost: bool = False  # the kernel dropped events: only a full sweep is safe
    # The content folder went away (deleted, moved, replaced) / is watched again
    # (`lost` is then set too: what it holds now is known only from a sweep).
    root_gone: bool = False
    root_back: bool = False

    def __bool__(self) -> bool:
        return bool(self.files or self.folders or self.gone_folders or self.lost or self.root_gone)

    def merge(self, other: Changes) -> None:
        self.files |= other.files
        self.folders |= other.folders
        self.gone_folders |= other.gone_folders
        self.lost = self.lost or other.lost
        self.root_gone = (self.root_gone or other.root_gone) and not other.root_back
        self.root_back = (self.root_back or other.root_back) and not other.root_gone


def network_filesystem(folder: Path) -> str | None:
    """The type of a network filesystem holding `folder`, or None for a local one."""
    try:
        target = os.path.realpath(folder)
        best, kind = "", None
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if " - " not in line or len(parts) < 5:
                    continue
                mount_point = parts[4].replace("\\040", " ")
                fstype = line.split(" - ", 1)[1].split()[0]
                inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, kind = mount_point, fstype
    except OSError:
        return None
    return kind if kind in _REMOTE else None


class Watcher:
    """Recursive inotify watch of one folder. Not thread-safe: one thread reads it."""

    def __init__(self, root: Path):
        from inotify_simple import INotify, flags

        self.path = os.fspath(root)  # as configured: watched again at this path when it is replaced
        self.root = os.path.realpath(root)
        remote = network_filesystem(Path(self.root))
        if remote is not None:
            raise WatchUnavailable(f"{self.root} is on a network filesystem ({remote}), whose changes made "
                                   "elsewhere inotify cannot see", "changes are found by periodic rescans")
        self._flags = flags
        self._mask = (flags.CREATE | flags.DELETE | flags.CLOSE_WRITE | flags.MOVED_FROM | flags.MOVED_TO
                      | flags.ATTRIB | flags.DELETE_SELF | flags.MOVE_SELF | flags.ONLYDIR)
        self._inotify = INotify()
        self._folders: dict[int, str] = {}  # watch descriptor → folder, relative ('' for the root)
        self._identity: tuple[int, int] | None = None  # (device, inode) of the folder watched as the root
        try:
            self._watch_root()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._inotify.close()

    @property
    def folders(self) -> int:
        return len(self._folders)

    @property
    def missing(self) -> bool:
        """True while there is no content folder to watch (it was deleted or moved away)."""
        return self._identity is None

    def _current_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None

    def _watch_root(self) -> bool:
        """Watch the folder now at the configured path, if there is one; True when it is watched."""
        identity = self._current_identity()
        if identity is None:
            return False
        self.root = os.path.realpath(self.path)
        self._watch_tree("")
        if "" not in self._folders.values():
            return False  # gone again before its watch was added
        self._identity = identity
        return True

    def _drop_root(self) -> None:
        """Forget the watched tree: the folder at the configured path is no longer it."""
        self._unwatch_tree("")
        self._folders.clear()
        self._identity = None

    def _watch_tree(self, rel: str) -> list[str]:
        """Watch `rel` and every folder under it; returns the folders now watched."""
        added = []
        stack = [rel]
        while stack:
            folder = stack.pop()
            path = os.path.join(self.root, folder) if folder else self.root
            try:
                wd = self._inotify.add_watch(path, self._mask)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise WatchUnavailable(
                        f"the kernel's inotify watch limit is too low for {self.root}'s folders",
                        "raise it, e.g. `sysctl fs.inotify.max_user_watches=1048576` (and in /etc/sysctl.d/)",
                    ) from None
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    continue  # gone already: its removal event follows
                raise WatchUnavailable(f"cannot watch {path}: {exc.strerror}", "check its permissions") from None
            self._folders[wd] = folder
            added.append(folder)
            try:
                with os.scandir(path) as it:
                    for entry in it:
                        if not hidden_name(entry.name) and entry.is_dir(follow_symlinks=False):
                            stack.append(f"{folder}/{entry.name}" if folder else entry.name)
            except OSError:
                continue
        return added

    def _unwatch_tree(self, rel: str) -> None:
        inside = [wd for wd, folder in self._folders.items()
                  if rel == "" or folder == rel or folder.startswith(rel + "/")]
        for wd in inside:
            self._folders.pop(wd, None)
            try:
                self._inotify.rm_watch(wd)
            except OSError:
                pass  # already gone

    def read(self, timeout: float | None, *, quiet: float = 0.05, longest: float = 0.3) -> Changes:
        """Wait up to `timeout` seconds for events, then keep collecting until
        `quiet` seconds pass without one (at most `longest`): a burst of saves
        becomes one round, and a single save is seen within a few tenths of a second."""
        changes = Changes()
        if self._identity is None:
            # Waiting for the content folder to appear again: no watch can say so
            # (the parent may be gone too), so look at the path now and then.
            if self._watch_root():
                return Changes(lost=True, root_back=True)
            time.sleep(timeout if timeout is not None else 0.5)
            return changes
        events = self._inotify.read(timeout=None if timeout is None else int(timeout * 1000))
        if not events:
            # A quiet moment: is the folder at the configured path still the one
            # watched? A parent moved or replaced sends the root no event.
            if self._current_identity() != self._identity:
                return self._root_changed()
            return changes
        started = time.monotonic()
        while events:
            self._collect(events, changes)
            if changes.root_gone:
                return self._root_changed()
            left = longest - (time.monotonic() - started)
            if left <= 0:
                break
            events = self._inotify.read(timeout=int(min(quiet, left) * 1000))
        return changes

    def _root_changed(self) -> Changes:
        """The content folder went away, or another took its place: drop the old
        watches, and watch the one there now, if any (a sweep must follow)."""
        self._drop_root()
        if self._watch_root():
            return Changes(lost=True, root_back=True)
        return Changes(root_gone=True)

    def _collect(self, events: list, changes: Changes) -> None:  # type: ignore[type-arg]
        f = self._flags
        for event in events:
            if event.mask & f.Q_OVERFLOW:
                changes.lost = True
                continue
            folder = self._folders.get(event.wd)
            if event.mask & f.IGNORED:
                self._folders.pop(event.wd, None)
                continue
            if folder is None:
                continue
            if event.mask & (f.DELETE_SELF | f.MOVE_SELF):
                if folder == "":
                    changes.root_gone = True  # the content folder itself went away or moved
                continue
            name = event.name
            if hidden_name(name):
                continue
            rel = f"{folder}/{name}" if folder else name
            if event.mask & f.ISDIR:
                if event.mask & (f.CREATE | f.MOVED_TO):
                    self._watch_tree(rel)
                    changes.folders.add(rel)
                    changes.gone_folders.discard(rel)
                elif event.mask & (f.DELETE | f.MOVED_FROM):
                    changes.gone_folders.add(rel)
                    changes.folders.discard(rel)
                    if event.mask & f.MOVED_FROM:
                        self._unwatch_tree(rel)  # it lives on elsewhere: its events are not ours
                continue
            if name.lower().endswith(ARTICLE_SUFFIXES):
                changes.files.add(rel)
