"""Plays Alexa's part: builds request envelopes, carries the session, signs, and posts them.

The demo uses it to talk to a live server with no Alexa account; the tests use it with the
real envelopes under tests/fixtures as templates, so both exercise the verified endpoint.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .demo_ca import DemoCA

#: Sends a signed body with headers; answers (HTTP status, parsed JSON body or None).
Transport = Callable[[bytes, Mapping[str, str]], tuple[int, Any]]


def _system(skill_id: str, user_id: str) -> dict[str, Any]:
    return {
        "application": {"applicationId": skill_id},
        "user": {"userId": user_id},
        "device": {"deviceId": "amzn1.ask.device.simulator", "supportedInterfaces": {}},
        "apiEndpoint": "https://api.amazonalexa.com",
    }


def default_templates(skill_id: str, user_id: str) -> dict[str, dict[str, Any]]:
    """Minimal envelopes of each kind, shaped as Alexa sends them."""
    base_session = {
        "new": True,
        "sessionId": "",
        "application": {"applicationId": skill_id},
        "attributes": {},
        "user": {"userId": user_id},
    }
    context = {"System": _system(skill_id, user_id)}
    return {
        "launch": {
            "version": "1.0",
            "session": base_session,
            "context": context,
            "request": {"type": "LaunchRequest", "locale": "en-US"},
        },
        "intent": {
            "version": "1.0",
            "session": base_session,
            "context": context,
            "request": {"type": "IntentRequest", "locale": "en-US", "intent": {}},
        },
        "session_ended": {
            "version": "1.0",
            "session": base_session,
            "context": context,
            "request": {
                "type": "SessionEndedRequest",
                "locale": "en-US",
                "reason": "USER_INITIATED",
            },
        },
        "skill_disabled": {
            "version": "1.0",
            "context": context,
            "request": {"type": "AlexaSkillEvent.SkillDisabled", "body": {}},
        },
    }


def resolved(
    value: str,
    *ids: str,
    code: str = "ER_SUCCESS_MATCH",
    slot_type: str = "SlotType",
    skill_id: str = "amzn1.ask.skill.simulated",
) -> dict[str, Any]:
    """A custom slot as Alexa fills it: the words heard, and what entity resolution made of
    them (each id a value it matched; none with ER_SUCCESS_NO_MATCH)."""
    if not ids and code == "ER_SUCCESS_MATCH":
        code = "ER_SUCCESS_NO_MATCH"
    authority: dict[str, Any] = {
        "authority": f"amzn1.er-authority.echo-sdk.{skill_id}.{slot_type}",
        "status": {"code": code},
    }
    if ids:
        authority["values"] = [{"value": {"name": id_, "id": id_}} for id_ in ids]
    return {
        "value": value,
        "source": "USER",
        "resolutions": {"resolutionsPerAuthority": [authority]},
    }


@dataclass
class Turn:
    """One request and what came back."""

    status: int
    body: Any
    envelope: dict[str, Any]

    @property
    def ssml(self) -> str:
        return self.body["response"]["outputSpeech"]["ssml"]

    @property
    def reprompt(self) -> str | None:
        reprompt = self.body["response"].get("reprompt")
        return reprompt["outputSpeech"]["ssml"] if reprompt else None

    @property
    def directives(self) -> list[dict[str, Any]]:
        return list(self.body["response"].get("directives") or [])

    @property
    def ends_session(self) -> bool:
        return bool(self.body["response"].get("shouldEndSession", False))


@dataclass
class AlexaSimulator:
    """A speaker for one user; keeps the session open across turns the way Alexa does."""

    transport: Transport
    ca: DemoCA
    skill_id: str
    clock: Callable[[], float]
    user_id: str = "amzn1.ask.account.SIMULATED-USER"
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Set into context.System of every envelope when given, as Alexa sends them for the
    #: Alexa APIs (a local fake of one, in tests); None keeps the template's own.
    api_endpoint: str | None = None
    api_access_token: str | None = None
    device_id: str | None = None
    _session_id: str | None = None
    _attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.templates = {**default_templates(self.skill_id, self.user_id), **self.templates}

    @classmethod
    def from_fixture_dir(cls, directory: str | Path, **kwargs: Any) -> AlexaSimulator:
        """Use recorded envelopes as templates: launch.json, intents/<Name>.json, ..."""
        directory = Path(directory)
        templates = {
            path.stem: json.loads(path.read_text("utf-8"))
            for path in [*directory.glob("*.json"), *directory.glob("intents/*.json")]
        }
        return cls(templates=templates, **kwargs)

    # -- what a user can do ------------------------------------------------------------

    def launch(self) -> Turn:
        self._session_id = None
        return self.send(self._envelope("launch"))

    def says(self, intent: str, **slots: str | Mapping[str, Any]) -> Turn:
        """Speak an intent, with slot values as strings (as Alexa resolves them).

        A slot given as a mapping is the slot as Alexa sends it beyond its name (its value
        and its entity resolution: see `resolved`).
        """
        template = intent if intent in self.templates else "intent"
        envelope = self._envelope(template)
        request = envelope["request"]
        request["intent"] = {
            "name": intent,
            "confirmationStatus": "NONE",
            "slots": {
                name: {
                    "name": name,
                    "confirmationStatus": "NONE",
                    **({"value": value} if isinstance(value, str) else dict(value)),
                }
                for name, value in slots.items()
            },
        }
        return self.send(envelope)

    def session_ends(self, reason: str = "USER_INITIATED") -> Turn:
        envelope = self._envelope("session_ended")
        envelope["request"]["reason"] = reason
        turn = self.send(envelope)
        self._session_id = None
        return turn

    def disables_skill(self) -> Turn:
        return self.send(self._envelope("skill_disabled"))

    # -- plumbing ----------------------------------------------------------------------

    def _envelope(self, kind: str) -> dict[str, Any]:
        envelope = copy.deepcopy(self.templates[kind])
        now = datetime.fromtimestamp(self.clock(), UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        request = envelope["request"]
        request["requestId"] = f"amzn1.echo-api.request.{uuid.uuid4()}"
        request["timestamp"] = stamp
        if request["type"].startswith("AlexaSkillEvent."):
            request["eventCreationTime"] = request["eventPublishingTime"] = stamp
        system = envelope["context"]["System"]
        system["application"]["applicationId"] = self.skill_id
        system["user"]["userId"] = self.user_id
        if self.api_endpoint is not None:
            system["apiEndpoint"] = self.api_endpoint
        if self.api_access_token is not None:
            system["apiAccessToken"] = self.api_access_token
        if self.device_id is not None:
            system.setdefault("device", {"supportedInterfaces": {}})["deviceId"] = self.device_id
        if "session" in envelope:
            session = envelope["session"]
            new = self._session_id is None
            if new:
                self._session_id = f"amzn1.echo-api.session.{uuid.uuid4()}"
                self._attributes = {}
            session.update(
                new=new,
                sessionId=self._session_id,
                attributes=dict(self._attributes),
                application={"applicationId": self.skill_id},
                user={"userId": self.user_id},
            )
        return envelope

    def send(self, envelope: dict[str, Any]) -> Turn:
        """Sign and post an envelope exactly as built (tests may tamper with it first)."""
        body = json.dumps(envelope).encode("utf-8")
        status, answer = self.transport(body, self.ca.sign(body))
        turn = Turn(status, answer, envelope)
        if status == 200 and isinstance(answer, dict):
            self._attributes = answer.get("sessionAttributes") or {}
            if answer.get("response", {}).get("shouldEndSession"):
                self._session_id = None
        return turn
