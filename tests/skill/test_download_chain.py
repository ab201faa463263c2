"""Fetching a chain over a real socket: small, direct and quick, or not at all."""

from __future__ import annotations

import time

import pytest
from chain_server import TRICKLE_S, ChainServer

from skill.verification import download_chain

DEADLINE_S = 0.4
#: Slack for a loaded machine; a per-read timeout would let a trickle run for minutes.
SLACK_S = 1.0


def test_a_chain_is_downloaded_whole(chain_server: ChainServer) -> None:
    assert download_chain(chain_server.url("/chain.pem")) == chain_server.payload


def test_a_response_declaring_more_than_the_cap_is_refused(chain_server: ChainServer) -> None:
    with pytest.raises(ValueError, match="over"):
        download_chain(chain_server.url("/declared-too-big.pem"))


def test_a_body_without_a_length_is_cut_off_at_the_cap(chain_server: ChainServer) -> None:
    with pytest.raises(ValueError, match="over"):
        download_chain(chain_server.url("/endless.pem"))


def test_a_redirect_is_refused_and_not_followed(chain_server: ChainServer) -> None:
    with pytest.raises(ValueError, match="302"):
        download_chain(chain_server.url("/redirect.pem"))

    assert chain_server.paths == ["/redirect.pem"]


def test_an_error_status_is_refused(chain_server: ChainServer) -> None:
    with pytest.raises(ValueError, match="404"):
        download_chain(chain_server.url("/missing.pem"))


@pytest.mark.parametrize("path", ["/trickle-body.pem", "/trickle-headers.pem"])
def test_a_trickling_server_is_cut_off_at_the_total_deadline(
    chain_server: ChainServer, path: str
) -> None:
    # Each byte arrives well within any per-read timeout; only a total deadline stops this.
    assert TRICKLE_S < DEADLINE_S / 4
    start = time.monotonic()

    with pytest.raises(TimeoutError):
        download_chain(chain_server.url(path), deadline_s=DEADLINE_S)

    assert time.monotonic() - start < DEADLINE_S + SLACK_S


def test_nothing_but_http_and_https_is_fetched() -> None:
    with pytest.raises(ValueError, match="cannot download"):
        download_chain("file:///etc/passwd")
