"""The public pages the skill package links to: icons, privacy policy and terms of use."""

from __future__ import annotations

import pytest
from flask import Flask

from sciatica_coach.site import (
    ICON_FILES,
    ICON_FOLDER,
    ICON_MAX_AGE_S,
    PRIVACY_PATH,
    TERMS_PATH,
    icon_path,
)


@pytest.mark.parametrize("px", sorted(ICON_FILES))
def test_each_icon_is_served_as_a_png_cached_for_long(app: Flask, px: int) -> None:
    with app.test_client().get(icon_path(px)) as response:
        assert response.status_code == 200
        assert response.mimetype == "image/png"
        assert response.cache_control.public
        assert response.cache_control.max_age == ICON_MAX_AGE_S >= 30 * 24 * 3600
        assert response.data == (ICON_FOLDER / ICON_FILES[px]).read_bytes()


def test_an_icon_is_not_sent_again_to_a_client_that_has_it(app: Flask) -> None:
    client = app.test_client()
    with client.get(icon_path(108)) as first:
        etag = first.headers["ETag"]

    with client.get(icon_path(108), headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304


@pytest.mark.parametrize("name", ["icon-64.png", "..%2Fpages.py", "icon-108.PNG", "x"])
def test_any_other_icon_is_a_json_404(app: Flask, name: str) -> None:
    response = app.test_client().get(f"/icons/{name}")

    assert response.status_code == 404
    assert response.is_json


@pytest.mark.parametrize("path", [PRIVACY_PATH, TERMS_PATH])
def test_each_page_is_html_for_a_phone_with_nothing_to_load(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.mimetype_params["charset"] == "utf-8"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<script" not in html
    assert "src=" not in html
    assert "<link" not in html
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", [PRIVACY_PATH, TERMS_PATH])
def test_a_page_answers_only_get(app: Flask, path: str) -> None:
    response = app.test_client().post(path)

    assert response.status_code == 405
    assert response.is_json
