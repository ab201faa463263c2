"""The benches' HTTP/1.1 client (bench/support.py, on h11) against a canned loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bench.support import HttpConnection, exchange, http_request

#: A bound so a broken client fails instead of hanging the run.
LIMIT_S = 10.0

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The head of one request and its Content-Length body, as the server received them."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def serve(handler: Handler, client: Callable[[int], Awaitable[object]]) -> object:
    """Run `client(port)` against a loopback server that runs `handler` per connection."""

    async def main() -> object:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await asyncio.wait_for(client(port), LIMIT_S)
        finally:
            server.close()

    return asyncio.run(main())


def test_two_requests_on_one_connection_each_get_their_answer() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for number in (1, 2):
            seen.append(await read_request(reader))
            body = f'{{"n": {number}}}'.encode()
            head = f'HTTP/1.1 200 OK\r\nETag: "v{number}"\r\nContent-Length: {len(body)}\r\n\r\n'
            writer.write(head.encode() + body)
        writer.close()

    async def client(port: int) -> list[tuple[int, dict[str, str], bytes]]:
        connection = await HttpConnection.open(port)
        answers = []
        try:
            for request in (
                http_request("GET", "/api/v1/cues", {"Authorization": "Bearer t"}),
                http_request("POST", "/api/v1/actions", {}, b'{"action": "repeat"}'),
            ):
                connection.send(request)
                answers.append(await connection.response())
        finally:
            connection.close()
        return answers

    answers = serve(handler, client)

    assert answers == [
        (200, {"etag": '"v1"', "content-length": "8"}, b'{"n": 1}'),
        (200, {"etag": '"v2"', "content-length": "8"}, b'{"n": 2}'),
    ]
    assert seen[0].startswith(b"GET /api/v1/cues HTTP/1.1\r\n")
    assert b"host: 127.0.0.1\r\nauthorization: bearer t\r\n" in seen[0].lower()
    assert seen[1].endswith(b'\r\n\r\n{"action": "repeat"}')
    assert b"content-length: 20\r\n" in seen[1].lower()


def test_a_chunked_answer_is_read_whole() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        writer.close()

    status, _, body = serve(handler, lambda port: exchange(port, http_request("GET", "/")))

    assert (status, body) == (200, b"hello world")


@pytest.mark.parametrize(
    "answer",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", b"not http at all\r\n\r\n"],
    ids=["nothing", "cut-short", "garbage"],
)
def test_a_connection_closed_without_a_whole_answer_is_a_connection_error(answer: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        writer.close()

    with pytest.raises(ConnectionError):
        serve(handler, lambda port: exchange(port, http_request("GET", "/healthz")))
