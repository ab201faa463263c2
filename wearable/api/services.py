"""The watch API's one way to the app's services, for the app that is answering."""

from __future__ import annotations

from flask import current_app

from shared.services import AppServices, services_in


def services() -> AppServices:
    """The services the app factory gave this app (the same Coach the voice uses)."""
    return services_in(current_app.extensions)
