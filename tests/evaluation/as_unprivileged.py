"""Run a command as uid 65534 ("nobody"), for the sandbox tests when the suite runs as root (CI).

Usage (as root): unshare --mount --propagation private PYTHON as_unprivileged.py COMMAND...
The interpreter may live under a directory other users cannot enter (/root/.pyenv, /root mode 700):
in this private mount namespace such a directory becomes a tmpfs that shows only the paths to the
interpreter, the venv and the working directory (the checkout), as a cluster user's own Python and
checkout in their home would be reachable to them. Then setpriv drops to 65534 with no groups and no
capabilities and runs COMMAND.
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


def open_paths_to(targets: set[Path]) -> None:
    """Make every target reachable for every user: a closed ancestor becomes a tmpfs holding only its
    children on the way to the targets (all of them at once: the interpreter and the venv may share one)."""
    for target in sorted(targets):
        for ancestor in reversed(target.parents):
            if ancestor == Path("/") or ancestor.stat().st_mode & 0o001:
                continue
            children = sorted({t.relative_to(ancestor).parts[0] for t in targets if ancestor in t.parents})
            holders = {child: tempfile.mkdtemp(prefix="mf-holder-") for child in children}
            for child, holder in holders.items():
                _mount("--bind", str(ancestor / child), holder)
            _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", str(ancestor))
            for child, holder in holders.items():
                (ancestor / child).mkdir()
                _mount("--bind", holder, str(ancestor / child))
                subprocess.run(["umount", "-l", holder], check=True)
                os.rmdir(holder)


def main() -> None:
    open_paths_to({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path.cwd().resolve()})
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all", "--"]
    os.execvp("setpriv", [*setpriv, *sys.argv[1:]])


if __name__ == "__main__":
    main()
