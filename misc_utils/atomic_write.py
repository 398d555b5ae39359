"""Writing a file so that an interrupted run never leaves a complete-looking file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def _default_file_mode() -> int:
    """The permissions a newly created file gets under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(destination: str | os.PathLike, keep_extension: bool = False) -> Iterator[str]:
    """Yields a temporary path beside ``destination`` that becomes ``destination`` on success.

    The temporary file lives in the destination's folder (so the final rename is atomic) under a
    hidden ``.<name>.*.partial`` name. When the ``with`` block ends normally it gets the usual
    permissions of a new file and replaces ``destination``; when the block raises, it is deleted
    and ``destination`` is left as it was.

    Args:
        destination: Path of the file to write.
        keep_extension: End the temporary name with the destination's extension as well
            (``.<name>.*.partial.keras``), for writers that check it, such as ``Model.save``.

    Yields:
        The temporary path to write to.
    """
    destination = os.path.abspath(os.fspath(destination))
    handle, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(destination)}.",
        suffix=".partial" + (os.path.splitext(destination)[1] if keep_extension else ""),
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
