"""The public pages the skill store links to: the skill's icons, the privacy policy, the terms.

Certification fetches each URL the skill package names (sciatica_coach/skill_package.py
builds them from these paths), so the package and the app take them from one place.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_file
from flask.typing import ResponseReturnValue

from . import pages

#: The skill store's icons by side in pixels: Amazon asks for a 108 and a 512 pixel PNG.
SMALL_ICON_PX = 108
LARGE_ICON_PX = 512
ICON_FILES = {SMALL_ICON_PX: "icon-108.png", LARGE_ICON_PX: "icon-512.png"}
ICON_PREFIX = "/icons/"
#: Where tools/make_icons.py commits them (package data, so an installed app has them too).
ICON_FOLDER = Path(__file__).parent / "static" / "icons"
PRIVACY_PATH = "/privacy"
TERMS_PATH = "/terms"
#: Icons change only with a release that redraws them (tools/make_icons.py): cache a year.
ICON_MAX_AGE_S = 365 * 24 * 3600
#: The pages change with a release; an hour keeps an old copy from lingering.
PAGE_MAX_AGE_S = 3600
#: The pages load nothing and run nothing: their only style is inline.
PAGE_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

bp = Blueprint("site", __name__)


def icon_path(px: int) -> str:
    """The URL path of the icon `px` pixels wide, as the skill package names it."""
    return ICON_PREFIX + ICON_FILES[px]


@bp.get(ICON_PREFIX + "<name>")
def icon(name: str) -> ResponseReturnValue:
    if name not in ICON_FILES.values():
        abort(404, description="no such icon")
    path = ICON_FOLDER / name
    return send_file(path, mimetype="image/png", max_age=ICON_MAX_AGE_S, conditional=True)


@bp.get(PRIVACY_PATH)
def privacy() -> ResponseReturnValue:
    return _page(pages.privacy_html())


@bp.get(TERMS_PATH)
def terms() -> ResponseReturnValue:
    return _page(pages.terms_html())


def _page(html: str) -> Response:
    response = Response(html, mimetype="text/html")
    response.cache_control.public = True
    response.cache_control.max_age = PAGE_MAX_AGE_S
    response.headers["Content-Security-Policy"] = PAGE_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
