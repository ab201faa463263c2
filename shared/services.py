"""The services one app runs on, in one object, and the one way a web app keeps and finds them.

The app factory builds them once; the voice and the watch reach them through services_in(),
each side with one small function of its own, so no view or handler looks a service up by
name. Framework-free: the web app's per-app mapping (Flask's `app.extensions`) is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from .pairing.service import PairingService
from .routine.coach import Coach
from .timing.tuning import Tuning
from .timing.voices import Voices

#: The key a web app keeps its services under.
EXTENSION = "sciatica"


@dataclass(frozen=True, slots=True)
class AppServices:
    """Everything a request may need: the routine's one door, pairing, voices and tuning."""

    coach: Coach
    pairing: PairingService
    voices: Voices
    tuning: Tuning


def put_services(extensions: MutableMapping[str, Any], services: AppServices) -> None:
    """Keep `services` in a web app's per-app mapping, replacing any there before."""
    extensions[EXTENSION] = services


def services_in(extensions: Mapping[str, Any]) -> AppServices:
    """The services kept in a web app's per-app mapping; LookupError if it has none."""
    found = extensions.get(EXTENSION)
    if not isinstance(found, AppServices):
        raise LookupError("this app has no services: it was not built by create_app")
    return found
