"""The web watch face at /watch: static HTML and JS that pair, long-poll and buzz in a browser."""

from __future__ import annotations

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

face = Blueprint("watch_face", __name__, static_folder="static", static_url_path="/watch/static")


@face.get("/watch")
def watch_face() -> ResponseReturnValue:
    """The face itself; its assets load relative to it, so it also works under a path prefix."""
    with face.open_resource("static/index.html") as page:
        html = page.read()
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-cache"})
