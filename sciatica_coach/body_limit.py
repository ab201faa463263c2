"""Chunked request bodies get a length before Flask sees them, so size limits hold for them too.

Werkzeug enforces `MAX_CONTENT_LENGTH` from the Content-Length header. A chunked body has
none: Werkzeug then caps the stream at the limit and `get_data()` quietly returns the first
`limit` bytes, so an oversized body would be read as a shorter, different one (and then
refused for the wrong reason). This middleware reads such a body up to one byte past the
limit and hands it on with a Content-Length: a body that fits goes through unchanged, one
that does not is refused with 413 by each blueprint's own error format, as if it had
declared its size.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_CHUNK = 16 * 1024


class ChunkedBodyLimit:
    """WSGI middleware: buffer a chunked body of at most `limit` bytes and give it a length."""

    def __init__(self, app: WsgiApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not _is_chunked(environ):
            return self.app(environ, start_response)
        body = _read_at_most(environ["wsgi.input"], self.limit + 1)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        # The body is no longer chunked; Werkzeug ignores a length beside a chunked coding.
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        # One byte past the limit: the length now says "too large", and Werkzeug answers 413
        # (the WSGI server reads and drops the rest of the body before the next request).
        return self.app(environ, start_response)


def _is_chunked(environ: Environ) -> bool:
    # A chunked coding overrides any Content-Length (RFC 9112, section 6.3).
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def _read_at_most(stream: Any, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = stream.read(min(_CHUNK, left))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
