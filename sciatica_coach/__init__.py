"""The application: wires the routine core to the voice and watch sides, plus the command line."""

from .app import create_app

__all__ = ["create_app"]
