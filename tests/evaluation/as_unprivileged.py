"""Run a command as uid 65534 ("nobody"), for the sandbox tests when the suite runs as root (CI).

Usage (as root): unshare --mount --propagation private PYTHON as_unprivileged.py COMMAND...
The interpreter may live under a directory other users cannot enter (/root/.pyenv, /root mode 700):
in this private mount namespace such a directory becomes a tmpfs that shows only the interpreter's
path, as a cluster user's own Python in their home would be reachable to them. Then setpriv drops
to 65534 with no groups and no capabilities and runs COMMAND.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

NOBODY = 65534


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def open_path_to(target: Path) -> None:
    """Make `target` reachable for every user: a closed ancestor becomes a tmpfs holding only it."""
    for ancestor in reversed(target.parents):
        if ancestor != Path("/") and not ancestor.stat().st_mode & 0o001:
            child = target.relative_to(ancestor).parts[0]
            holder = tempfile.mkdtemp(prefix="mf-holder-")
            _mount("--bind", str(ancestor / child), holder)
            _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", str(ancestor))
            (ancestor / child).mkdir()
            _mount("--bind", holder, str(ancestor / child))
            subprocess.run(["umount", "-l", holder], check=True)
            os.rmdir(holder)
            return


def main() -> None:
    for prefix in {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}:
        open_path_to(prefix)
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all", "--"]
    os.execvp("setpriv", [*setpriv, *sys.argv[1:]])


if __name__ == "__main__":
    main()
