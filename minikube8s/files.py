"""Private files written atomically: credentials, keys and kubeconfigs.

The CA and serving keys (auth/pki.py), the shared tokens (auth/credentials.py), a node's join
credentials (auth/join.py) and the admin kubeconfigs (cli/kubeconfig.py) are all written
here, so each of them is either the old file or the whole new one for a reader, and is never
readable by others, not even between creation and chmod. Standard library only: the CLI
imports it on every start.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Atomically replace ``path`` with ``data``, created with ``mode``. A missing parent
    directory is made readable by the owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # Mode first, then the bytes: the secret is never in a file others could open.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
