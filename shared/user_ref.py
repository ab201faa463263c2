"""How a user is named in logs and messages: a labelled, truncated hash, never the id itself.

One function for every line that concerns a user (the core's, the voice's, the watch's and
the request log's), so one string finds all of a user's lines, and no line names an account
to whoever reads the logs without the id in hand. The label keeps it from ever equalling a
hash of the same id made for another use (a Redis key's tag, a rate counter's scope).
"""

from __future__ import annotations

import hashlib

#: Hex digits kept: 64 bits tell users apart in logs without naming them.
USER_REF_HEX = 16
_LABEL = b"sciatica-coach/log-user:"


def user_ref(user_id: str) -> str:
    """The stand-in for `user_id` in every log line and message."""
    return hashlib.sha256(_LABEL + user_id.encode("utf-8")).hexdigest()[:USER_REF_HEX]
