"""The Redis the tests use: skipped with a reason outside CI, a failure in CI, never silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import redis_servers as redis_support
from tests.support.loopback import free_port
from tests.support.redis_servers import TEST_URL_ENV, redis_server


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> str:
    """A SCIATICA_TEST_REDIS_URL on a port where nothing listens."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv(TEST_URL_ENV, url)
    return url


def enter(workdir: Path) -> str:
    with redis_server(workdir) as url:
        return url


@pytest.mark.parametrize("ci", ["1", "true"])
def test_in_ci_a_given_redis_that_does_not_answer_fails_the_test(
    nowhere: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="Redis is required in CI") as failed:
        enter(tmp_path)
    assert nowhere in str(failed.value)


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_outside_ci_a_given_redis_that_does_not_answer_skips_with_the_reason(
    nowhere: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="does not answer") as skipped:
        enter(tmp_path)
    assert nowhere in str(skipped.value)


def test_with_no_server_to_start_ci_fails_and_elsewhere_it_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TEST_URL_ENV, raising=False)
    monkeypatch.setattr(redis_support.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="redis-server is not installed"):
        enter(tmp_path)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="redis-server is not installed"):
        enter(tmp_path)


def test_without_a_given_url_a_private_server_is_started_and_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if redis_support.shutil.which("redis-server") is None:
        redis_support.unavailable("redis-server is not installed")
    monkeypatch.delenv(TEST_URL_ENV, raising=False)
    with redis_server(tmp_path) as url:
        assert redis_support.answers(url) is None
    assert redis_support.answers(url) is not None
