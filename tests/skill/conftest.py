"""Session-wide demo CAs: RSA key generation is the slow part, so it happens once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from skill.demo_ca import DemoCA


@pytest.fixture(scope="session")
def demo_now() -> datetime:
    """The wall time the demo CAs are minted at; tests start their clocks here."""
    return datetime(2026, 11, 25, 18, 3, 46, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_ca(demo_now: datetime) -> DemoCA:
    """The CA the verifier under test trusts, standing in for Amazon's."""
    return DemoCA.generate(now=demo_now)


@pytest.fixture(scope="session")
def other_ca(demo_now: datetime) -> DemoCA:
    """A well-formed CA the verifier does not trust, standing in for an impostor."""
    return DemoCA.generate(now=demo_now, name="Impostor")
