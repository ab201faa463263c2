"""The deployable skill package: an ASK CLI project whose every URL points at one deployment.

The words of the store listing and the interaction models live in
interaction_models/skill-package/ (the tests in tests/interaction_models hold them to the
code); this module only puts a deployment's URLs into them. The committed skill.json is
this module's output for PLACEHOLDER_BASE_URL, so it is always a package that would
certify but for its host.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from skill.endpoint import ALEXA_PATH

from .site import LARGE_ICON_PX, PRIVACY_PATH, SMALL_ICON_PX, TERMS_PATH, icon_path

#: The base the committed package names: a reserved domain (RFC 2606), never a real server.
PLACEHOLDER_BASE_URL = "https://coach.example.com"
#: The package the repository keeps: skill.json and one interaction model per locale.
SOURCE = Path(__file__).resolve().parent.parent / "interaction_models" / "skill-package"
MODELS = Path("interactionModels") / "custom"
#: A certificate from a trusted authority: what Amazon expects of a public endpoint.
SSL_CERTIFICATE_TYPE = "Trusted"
#: ASK CLI v2's project file: the skill package's folder, for its default profile.
ASK_RESOURCES = {
    "askcliResourcesVersion": "2020-03-31",
    "profiles": {"default": {"skillMetadata": {"src": "./skill-package"}}},
}

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TOP_LEVEL = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


class PackageError(ValueError):
    """The package cannot be written as asked; the message says why, for the command line."""


@dataclass(frozen=True, slots=True)
class PackageUrls:
    """Every URL the skill package names, all under one base."""

    endpoint: str
    small_icon: str
    large_icon: str
    privacy: str
    terms: str

    @classmethod
    def under(cls, base_url: str) -> PackageUrls:
        base = check_base_url(base_url)
        return cls(
            endpoint=base + ALEXA_PATH,
            small_icon=base + icon_path(SMALL_ICON_PX),
            large_icon=base + icon_path(LARGE_ICON_PX),
            privacy=base + PRIVACY_PATH,
            terms=base + TERMS_PATH,
        )


def check_base_url(text: str) -> str:
    """The base every URL hangs off, normalised (lower-case host, no trailing slash).

    Alexa reaches a skill only over https, on port 443, at a host name covered by a
    certificate, so an address, a bare name or another port would fail certification later
    and more obscurely; a query or fragment would end up in the middle of every URL.
    """
    if not text or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise PackageError(f"base URL {text!r}: must not be empty or contain spaces")
    if not text.isascii():
        raise PackageError(f"base URL {text!r}: write an international host name in punycode")
    if "?" in text or "#" in text:
        raise PackageError(f"base URL {text!r}: must have no query (?) or fragment (#)")
    parts = urlsplit(text)
    if parts.scheme.lower() != "https":
        raise PackageError(f"base URL {text!r}: must start with https:// (Alexa calls only https)")
    if "@" in parts.netloc:
        raise PackageError(f"base URL {text!r}: must not carry a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise PackageError(f"base URL {text!r}: its port is not a number") from None
    if port not in (None, 443):
        raise PackageError(f"base URL {text!r}: Alexa calls only port 443, not {port}")
    host = _check_host(text, (parts.hostname or "").lower())
    path = parts.path.rstrip("/")
    for segment in path.split("/")[1:]:
        if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise PackageError(
                f"base URL {text!r}: its path must be plain segments "
                "(letters, digits, '.', '_', '~', '-'), with no '..' or '%'"
            )
    return f"https://{host}{path}"


def _check_host(text: str, host: str) -> str:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise PackageError(f"base URL {text!r}: needs a host name, not an IP address")
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2:
        raise PackageError(f"base URL {text!r}: {host!r} is not a full host name")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise PackageError(f"base URL {text!r}: {host!r} is not a valid host name")
    if not _TOP_LEVEL.fullmatch(labels[-1]):
        raise PackageError(f"base URL {text!r}: {labels[-1]!r} is not a top-level domain")
    return host


def build_manifest(template: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """`template` (a skill.json) with every URL under `base_url`, each locale given its icons."""
    urls = PackageUrls.under(base_url)
    package = copy.deepcopy(dict(template))
    manifest = package["manifest"]
    endpoint = {"uri": urls.endpoint, "sslCertificateType": SSL_CERTIFICATE_TYPE}
    manifest["apis"]["custom"]["endpoint"] = dict(endpoint)
    if "events" in manifest:
        manifest["events"]["endpoint"] = dict(endpoint)
    for listing in manifest["publishingInformation"]["locales"].values():
        listing["smallIconUri"] = urls.small_icon
        listing["largeIconUri"] = urls.large_icon
    privacy_locales = manifest["privacyAndCompliance"].setdefault("locales", {})
    for locale in manifest["publishingInformation"]["locales"]:
        legal = privacy_locales.setdefault(locale, {})
        legal["privacyPolicyUrl"] = urls.privacy
        legal["termsOfUseUrl"] = urls.terms
    return package


def dumps(data: Any) -> str:
    """JSON as the repository keeps it: two-space indents, non-ASCII kept, a final newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_project(
    out_dir: Path, base_url: str, *, force: bool = False, source: Path = SOURCE
) -> list[Path]:
    """Write the ASK CLI project for `base_url` into `out_dir`; the files written.

    With `force`, ask-resources.json and skill-package/ are replaced and anything else in
    `out_dir` (the ASK CLI's own .ask/ state, with the skill's id) is left alone.
    """
    PackageUrls.under(base_url)  # refuse a bad base before touching the disk
    template_path = source / "skill.json"
    if not template_path.is_file():
        raise PackageError(f"no skill package at {source} (give --source)")
    models = sorted((source / MODELS).glob("*.json"))
    if not models:
        raise PackageError(f"no interaction models in {source / MODELS}")
    if out_dir.exists() and not out_dir.is_dir():
        raise PackageError(f"{out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise PackageError(f"{out_dir} is not empty (give --force to replace the package in it)")
    try:
        template = json.loads(template_path.read_text("utf-8"))
    except ValueError as exc:
        raise PackageError(f"{template_path} is not JSON: {exc}") from None
    package_dir = out_dir / "skill-package"
    if package_dir.exists():
        shutil.rmtree(package_dir)
    (package_dir / MODELS).mkdir(parents=True)
    written = [out_dir / "ask-resources.json", package_dir / "skill.json"]
    written[0].write_text(dumps(ASK_RESOURCES), "utf-8")
    written[1].write_text(dumps(build_manifest(template, base_url)), "utf-8")
    for model in models:
        target = package_dir / MODELS / model.name
        shutil.copyfile(model, target)
        written.append(target)
    return written
