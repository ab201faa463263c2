"""The watch's side of the person's own settings: read them, and change some with a merge patch.

A change is a JSON merge patch (RFC 7396) checked by the contract's SettingsChange: only the
settings it names change, and a null puts one back to its default. Anything refused is a 422
problem naming the setting, in the same words the core uses (shared/routine/settings.py), and
nothing of that change is kept. `time_zone` is shown but never written from here: it is where
the person's Alexa device says they are, and the days of their streak are counted in it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from pydantic import ValidationError

from shared.routine.settings import Settings, SettingsError

from . import contract
from .problems import Problem, ProblemType

#: The setting the watch sees but may not change, and why.
READ_ONLY = {"time_zone": "comes from your Alexa device and cannot be changed from the watch"}
_WRITABLE = tuple(contract.SettingsChange.model_fields)


def settings_body(settings: Settings) -> contract.PersonSettings:
    """The settings as kept, time zone included (read only)."""
    return contract.PersonSettings.model_validate(settings.to_json())


def changes_from_body(body: Any) -> dict[str, Any]:
    """The changes a merge patch asks for, as Coach.change_settings takes them.

    A null becomes that setting's default. Raises a 422 Problem naming the first setting
    refused (unknown, read only, of the wrong kind or out of range).
    """
    if not isinstance(body, dict):
        raise refused(
            None, 'The body must be a JSON object of settings, e.g. {"hold_seconds": 45}.'
        )
    read_only = sorted(set(body) & set(READ_ONLY))
    if read_only:
        raise refused(read_only[0], f"{read_only[0]} {READ_ONLY[read_only[0]]}.")
    try:
        patch = contract.SettingsChange.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else None
        raise refused(name, _why(name, first, body)) from None
    defaults = Settings()
    return {
        name: getattr(defaults, name) if value is None else value
        for name, value in patch.model_dump(mode="json", exclude_unset=True).items()
    }


def _why(name: str | None, error: Any, body: dict[str, Any]) -> str:
    """Why a setting was refused, in the core's words where it has them."""
    if error["type"] == "extra_forbidden" or name is None:
        return f"There is no setting {name!r:.40}; the watch can change {', '.join(_WRITABLE)}."
    known = {f.name for f in fields(Settings)}
    if name in known:
        try:
            Settings().changed(**{name: body[name]})
        except SettingsError as exc:
            return f"{exc}."
    return f"{name}: {error['msg']}."


def refused(name: str | None, detail: str) -> Problem:
    """The 422 problem for a refused change, naming the setting in `field`."""
    return Problem(422, detail, ProblemType.INVALID_SETTING, extra={"field": name})
