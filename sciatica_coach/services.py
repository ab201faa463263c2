"""The app side's one way to an app's services (health, the server's shutdown hooks, tests)."""

from __future__ import annotations

from flask import Flask

from shared.routine.coach import Coach
from shared.services import AppServices, services_in


def services_of(app: Flask) -> AppServices:
    """The services create_app gave `app`."""
    return services_in(app.extensions)


def coach_of(app: Flask) -> Coach:
    """Shorthand for services_of(app).coach, the service most callers want."""
    return services_of(app).coach
