"""Helpers the watch tests share: users, a quick routine, a spying notifier, a watch helper."""

from __future__ import annotations

import threading
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shared.notify import LocalNotifier
from shared.pairing import DEVICE_CODE_GRANT, PairingService

WATCH_USER = "amzn1.ask.account.WATCH-USER"
OTHER_USER = "amzn1.ask.account.SOMEONE-ELSE"

#: Two 1.5 s holds (left, then right): a whole run with real time in a few seconds.
QUICK_ROUTINE = """
id = "quick-test"
title = "Quick test routine"
safety_note = "Move gently."

[[steps]]
id = "stretch"
title = "Quick stretch, {side} side"
say = "Hold it."
hold = { seconds = 1.5, side = "both" }
"""


class SpyNotifier(LocalNotifier):
    """A LocalNotifier that tells a test when a long poll has started waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        self.waiting.set()
        return super().wait(user_id, seen_version, timeout)


class WatchActions:
    """A watch over the test client: pairs (binding the code through the core), polls, acts."""

    def __init__(self, client: FlaskClient, pairing: PairingService) -> None:
        self.client = client
        self.pairing = pairing
        self.token: str | None = None

    def pair(self, user_id: str = WATCH_USER) -> str:
        start = self.client.post("/api/v1/pairings").get_json()
        self.pairing.bind(user_id, start["user_code"])
        answer = self.client.post(
            "/api/v1/token",
            data={"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]},
        )
        assert answer.status_code == 200, answer.get_json()
        self.token = answer.get_json()["access_token"]
        return self.token

    @property
    def auth(self) -> dict[str, str]:
        assert self.token is not None
        return {"Authorization": f"Bearer {self.token}"}

    def poll(self, etag: str | None = None, **params: Any) -> TestResponse:
        headers = dict(self.auth)
        if etag:
            headers["If-None-Match"] = etag
        return self.client.get("/api/v1/cues", headers=headers, query_string=params)

    def act(self, action: str) -> TestResponse:
        return self.client.post("/api/v1/actions", json={"action": action}, headers=self.auth)

    def unpair(self) -> TestResponse:
        return self.client.delete("/api/v1/devices/me", headers=self.auth)
