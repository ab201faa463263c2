"""A fresh Python interpreter for a test's script: at the repository root, with our packages.

For what a test cannot do in its own process: patch threads into greenlets (gevent), or see
which modules a package loads when nothing else has been imported yet.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.paths import REPO


def run_python(script: str, *args: str, timeout: float | None = None) -> str:
    """What `script` prints, run with `args` in a new interpreter; its failure fails the test."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout
