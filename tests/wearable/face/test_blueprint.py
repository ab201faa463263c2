"""The face's routes without a browser: the page, its manifest and its service worker."""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import PurePosixPath
from urllib.parse import urljoin

import pytest
from flask.testing import FlaskClient
from PIL import Image

from tests.support.paths import REPO
from wearable.face import blueprint

STATIC = REPO / "wearable" / "face" / "static"


def css_colour(name: str) -> str:
    """A colour watch.css gives, as #rrggbb."""
    css = (STATIC / "watch.css").read_text("utf-8")
    if name == "body":
        value = re.search(r"html, body \{[^}]*?background: (#[0-9a-f]+);", css, re.S)
    else:
        value = re.search(rf"--{name}: (#[0-9a-f]+);", css)
    assert value, name
    colour = value.group(1)
    return "#" + "".join(c * 2 for c in colour[1:]) if len(colour) == 4 else colour


def test_the_manifest_is_served_as_a_manifest(client: FlaskClient) -> None:
    response = client.get("/watch/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    assert response.headers["Cache-Control"] == "no-cache"
    manifest = json.loads(response.data)
    assert manifest["display"] == "standalone"
    assert manifest["name"]
    assert 0 < len(manifest["short_name"]) <= 12  # what a launcher shows under the icon


def test_the_manifest_names_the_face_relative_to_itself_so_a_prefix_keeps_working(
    client: FlaskClient,
) -> None:
    manifest = client.get("/watch/manifest.webmanifest").get_json(force=True)
    for base in (
        "http://h/watch/manifest.webmanifest",
        "http://h/coach/watch/manifest.webmanifest",
    ):
        face = base.removesuffix("/manifest.webmanifest")
        assert urljoin(base, manifest["start_url"]) == face
        assert urljoin(base, manifest["scope"]) == face
        assert urljoin(base, manifest["id"]) == face


def test_the_manifest_colours_are_the_pages_and_the_faces(client: FlaskClient) -> None:
    manifest = client.get("/watch/manifest.webmanifest").get_json(force=True)
    assert manifest["background_color"] == css_colour("body")
    assert manifest["theme_color"] == css_colour("bg")
    page = client.get("/watch").get_data(as_text=True)
    assert f'<meta name="theme-color" content="{css_colour("bg")}">' in page


def test_the_manifest_icons_are_served_at_their_declared_sizes(client: FlaskClient) -> None:
    manifest = client.get("/watch/manifest.webmanifest").get_json(force=True)
    purposes = {}
    for icon in manifest["icons"]:
        with client.get(urljoin("/watch/manifest.webmanifest", icon["src"])) as response:
            assert response.status_code == 200
            assert response.mimetype == icon["type"] == "image/png"
            with Image.open(io.BytesIO(response.data)) as image:
                assert "x".join(map(str, image.size)) == icon["sizes"]
        purposes[icon["src"].rsplit("/", 1)[-1]] = icon["purpose"]
    assert purposes == {
        "icon-192.png": "any",
        "icon-512.png": "any",
        "icon-maskable-512.png": "maskable",
    }


def test_the_page_links_its_manifest_relative_to_itself(client: FlaskClient) -> None:
    page = client.get("/watch").get_data(as_text=True)
    assert '<link rel="manifest" href="watch/manifest.webmanifest">' in page
    assert not re.search(r'(href|src)="/', page)  # nothing absolute: a prefix keeps working


def test_the_worker_is_served_beside_the_face_and_allowed_to_control_it(
    client: FlaskClient,
) -> None:
    response = client.get("/watch/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    allowed = response.headers["Service-Worker-Allowed"]
    # Without it a worker at /watch/sw.js could control /watch/... but not /watch itself.
    assert urljoin("http://h/watch/sw.js", allowed) == "http://h/watch"
    assert urljoin("http://h/coach/watch/sw.js", allowed) == "http://h/coach/watch"


def test_the_worker_carries_this_shell_and_its_version(client: FlaskClient) -> None:
    source = client.get("/watch/sw.js").get_data(as_text=True)
    assert "__SHELL" not in source
    version = re.search(r'const VERSION = "([0-9a-f]{16})";', source)
    assert version
    assert version.group(1) == blueprint.shell_version()
    files = re.search(r"const SHELL = (\[.*?\]);", source)
    assert files
    assert json.loads(files.group(1)) == [url for url, _ in blueprint.SHELL]


def test_every_shell_file_is_served_where_the_worker_asks_for_it(client: FlaskClient) -> None:
    for url, resource in blueprint.SHELL:
        path = urljoin("/watch/sw.js", url)
        with client.get(path) as response:
            assert response.status_code == 200, path
            assert response.data == blueprint._read(resource), path


def test_the_shell_names_every_static_file_of_the_face() -> None:
    served = {resource for _, resource in blueprint.SHELL}
    on_disk = {
        path.relative_to(STATIC.parent).as_posix() for path in STATIC.rglob("*") if path.is_file()
    }
    assert on_disk <= served  # a new asset that is not kept would be missing offline


def test_a_changed_shell_file_is_a_new_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = blueprint.shell_version()
    read = blueprint._read
    monkeypatch.setattr(
        blueprint,
        "_read",
        lambda resource: read(resource) + (b"\n" if resource == "static/watch.js" else b""),
    )
    assert blueprint.shell_version() != before


def test_a_worker_script_without_its_placeholders_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = blueprint._read
    monkeypatch.setattr(
        blueprint,
        "_read",
        lambda resource: b"const VERSION = 1;" if resource == "shell/sw.js" else read(resource),
    )
    with pytest.raises(RuntimeError, match="__SHELL_VERSION__"):
        blueprint.service_worker_source()


def shipped(resource: str, pattern: str) -> bool:
    """Whether setuptools' package-data glob takes the file: `*` stays inside one folder."""
    path = PurePosixPath(resource)
    return len(path.parts) == len(PurePosixPath(pattern).parts) and path.match(pattern)


def test_the_package_ships_every_shell_file() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["wearable.face"]
    for _, resource in blueprint.SHELL:
        assert any(shipped(resource, pattern) for pattern in patterns), resource
    assert any(shipped("shell/sw.js", pattern) for pattern in patterns)
