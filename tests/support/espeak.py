"""espeak-ng, the independent voice: present, or the test skips (in CI it must be there)."""

from __future__ import annotations

import pytest

from bench.espeak import available
from tests.support.redis_servers import in_ci


def require_espeak() -> None:
    """Skip outside CI; in CI, fail, so the tests on real audio can never silently not run."""
    if available():
        return
    if in_ci():
        pytest.fail("espeak-ng is required in CI (apt-get install espeak-ng)", pytrace=False)
    pytest.skip("no espeak-ng to speak with (apt-get install espeak-ng)")
