"""Writing a file so that an interrupted run never leaves a complete-looking file behind.

The temporary file is named `.<name>.<host>.<pid>.<random>.partial` after the process writing
it. A run killed outright (`SIGKILL`, a crash, a power cut) cannot delete its temporary file,
so the next `atomic_path` for the same destination removes the ones whose writer is gone:
written on this host by a process id that no longer exists. Temporary files of live processes
(another run writing the same file right now), of other hosts (a shared file system) and of
unknown form are left alone; when a process id has been reused in the meantime the stale file is
kept until a later run. A `SIGTERM` received while writing removes the temporary file before
the process ends as `SIGTERM` would have ended it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_PARTIAL = ".partial"
_RANDOM = r"[a-z0-9_]+"  # what tempfile puts between prefix and suffix


def _default_file_mode() -> int:
    """The permissions a newly created file gets under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _host_tag() -> str:
    """This host's name as it appears in temporary names (no path separators, bounded length)."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:32] or "host"


def _partial_pattern(destination: str) -> re.Pattern[str]:
    """Matches the temporary names of `destination`, capturing the writer's host and pid."""
    name = os.path.basename(destination)
    extension = os.path.splitext(destination)[1]
    suffixes = "|".join(re.escape(_PARTIAL + tail) for tail in {"", extension})
    return re.compile(
        rf"\.{re.escape(name)}\.(?P<host>[A-Za-z0-9._-]+)\.(?P<pid>\d+)\.{_RANDOM}(?:{suffixes})"
    )


def _process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (zombies and other users' count)."""
    if pid == os.getpid() or os.name != "posix":  # signal 0 only probes on POSIX
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_partials(destination: str | os.PathLike) -> list[str]:
    """Deletes the temporary files that dead writers of `destination` left behind.

    Only files named as `atomic_path` names them, written on this host by a process that
    no longer exists, are removed.

    Args:
        destination: Path of the file that `atomic_path` writes.

    Returns:
        The paths removed.
    """
    destination = os.path.abspath(os.fspath(destination))
    folder = os.path.dirname(destination)
    pattern, host = _partial_pattern(destination), _host_tag()
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None or match["host"] != host or _process_alive(int(match["pid"])):
            continue
        path = os.path.join(folder, entry)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
            removed.append(path)
    return removed


class _Terminated(BaseException):
    """Raised by the temporary SIGTERM handler to unwind the `with` block that is writing."""


@contextmanager
def _unwinding_on_sigterm() -> Iterator[None]:
    """Turns SIGTERM into an exception for the duration of the block, then ends the process.

    Only in the main thread and only while SIGTERM has its default action: a handler the
    program installed itself is left in charge. A forked child that inherits the handler ends
    at once, as with the default action.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    owner = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        raise _Terminated

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def atomic_path(destination: str | os.PathLike, keep_extension: bool = False) -> Iterator[str]:
    """Yields a temporary path beside `destination` that becomes `destination` on success.

    The temporary file lives in the destination's folder (so the final rename is atomic) under a
    hidden `.<name>.<host>.<pid>.*.partial` name. When the `with` block ends normally it gets
    the usual permissions of a new file and replaces `destination`; when the block raises, or
    the process receives SIGTERM (in the main thread, with no SIGTERM handler of its own), it is
    deleted and `destination` is left as it was. Temporary files that killed earlier runs left
    for the same destination are removed first (see the module docstring).

    Args:
        destination: Path of the file to write.
        keep_extension: End the temporary name with the destination's extension as well
            (`.<name>.<host>.<pid>.*.partial.keras`), for writers that check it, such as
            `Model.save`.

    Yields:
        The temporary path to write to.
    """
    destination = os.path.abspath(os.fspath(destination))
    remove_stale_partials(destination)
    with _unwinding_on_sigterm():
        handle, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(destination)}.{_host_tag()}.{os.getpid()}.",
            suffix=_PARTIAL + (os.path.splitext(destination)[1] if keep_extension else ""),
            dir=os.path.dirname(destination),
        )
        os.close(handle)
        try:
            yield temporary
            os.chmod(temporary, _default_file_mode())
            os.replace(temporary, destination)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
