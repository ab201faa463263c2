"""The web watch face at /watch: static HTML and JS that pair, long-poll and buzz in a browser.

It installs as an app: a web app manifest at /watch/manifest.webmanifest and a service
worker at /watch/sw.js that keeps the shell (SHELL) so the face opens with no network.
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

face = Blueprint("watch_face", __name__, static_folder="static", static_url_path="/watch/static")

#: What the service worker keeps: each file's URL relative to /watch/sw.js, and where it lives
#: in this package. Relative URLs, so the face still works under a path prefix.
SHELL: tuple[tuple[str, str], ...] = (
    ("../watch", "static/index.html"),
    ("manifest.webmanifest", "shell/manifest.webmanifest"),
    ("static/watch.css", "static/watch.css"),
    ("static/listening.js", "static/listening.js"),
    ("static/level-meter.js", "static/level-meter.js"),
    ("static/watch.js", "static/watch.js"),
    ("static/icons/icon-192.png", "static/icons/icon-192.png"),
    ("static/icons/icon-512.png", "static/icons/icon-512.png"),
    ("static/icons/icon-maskable-512.png", "static/icons/icon-maskable-512.png"),
)
#: The worker may control /watch itself, which sits above its own folder (/watch/): resolved
#: against the worker's URL, so under a prefix it allows <prefix>/watch and no more.
WORKER_ALLOWED_SCOPE = "../watch"
VERSION_TOKEN = '"__SHELL_VERSION__"'
FILES_TOKEN = '["__SHELL_FILES__"]'


def _read(resource: str) -> bytes:
    with face.open_resource(resource) as file:
        return file.read()


def shell_version() -> str:
    """A hash of every shell file, so any change to the face is a new worker and a new cache."""
    digest = hashlib.sha256()
    for url, resource in SHELL:
        content = _read(resource)
        digest.update(f"{url}\n{len(content)}\n".encode())
        digest.update(content)
    return digest.hexdigest()[:16]


def service_worker_source() -> str:
    """The worker's script with this deployment's shell and its version filled in."""
    source = _read("shell/sw.js").decode("utf-8")
    for token in (VERSION_TOKEN, FILES_TOKEN):
        if source.count(token) != 1:
            raise RuntimeError(f"shell/sw.js must hold {token} exactly once")
    files = json.dumps([url for url, _ in SHELL])
    return source.replace(VERSION_TOKEN, json.dumps(shell_version())).replace(FILES_TOKEN, files)


@face.get("/watch")
def watch_face() -> ResponseReturnValue:
    """The face itself; its assets load relative to it, so it also works under a path prefix."""
    html = _read("static/index.html")
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-cache"})


@face.get("/watch/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
    """What a browser needs to install the face as an app; its URLs are relative to it."""
    return Response(
        _read("shell/manifest.webmanifest"),
        mimetype="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@face.get("/watch/sw.js")
def service_worker() -> ResponseReturnValue:
    """Allowed up to /watch, above its own folder: a worker controls only pages under its scope."""
    return Response(
        service_worker_source(),
        mimetype="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": WORKER_ALLOWED_SCOPE},
    )
