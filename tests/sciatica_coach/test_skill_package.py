"""The generated skill package: Amazon's own models read it, and it meets the offline rules.

Amazon's models (ask-smapi-model) deserialize skill.json and every interaction model and
serialize them back unchanged, so no field is misspelt or misplaced; the rest are the
certification checks that need no Amazon account: icons served as PNGs of the right size,
every URL https under the base, example phrases that are sample utterances, the health
disclaimer, the privacy and distribution fields, and Amazon's length limits.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ask_sdk_model_runtime.serializer import DefaultSerializer
from flask import Flask
from PIL import Image

from sciatica_coach import skill_package
from sciatica_coach.site import ICON_FILES, LARGE_ICON_PX, SMALL_ICON_PX
from sciatica_coach.skill_package import (
    ASK_RESOURCES,
    PLACEHOLDER_BASE_URL,
    SOURCE,
    PackageError,
    PackageUrls,
    build_manifest,
    check_base_url,
    write_project,
)
from shared.routine.definition import load_routine
from shared.routine.settings import HOLD_SECONDS_RANGE, HOLDS_PER_SIDE_RANGE
from skill import speech
from skill.endpoint import ALEXA_PATH
from tests.support.own_words import article_fingerprints, run_hashes

BASE = "https://coach.example.org"
LOCALES = ("en-US", "en-GB", "en-CA", "en-AU", "en-IN")
MANIFEST_TYPE = "ask_smapi_model.v1.skill.manifest.skill_manifest_envelope.SkillManifestEnvelope"
MODEL_TYPE = (
    "ask_smapi_model.v1.skill.interaction_model.interaction_model_data.InteractionModelData"
)
#: The store listing's limits, as the developer console enforces them.
NAME_CHARS = (2, 50)
SUMMARY_CHARS = 160
DESCRIPTION_CHARS = 4000
KEYWORDS_MAX = 30
EXAMPLE_PHRASES_MAX = 3
TESTING_INSTRUCTIONS_CHARS = 4000
LAUNCH_WORDS = ("open", "ask", "tell", "start", "launch", "begin", "run", "load", "talk to")
CONNECTING_WORDS = ("to", "for", "about", "if", "whether", "and", "that")
DISCLAIMER_FRAGMENTS = ("not medical advice", "no substitute", "sharp pain", "numbness", "weakness")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ask-project")
    write_project(out, BASE)
    return out


def read(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def manifest_of(project: Path) -> dict[str, Any]:
    return read(project / "skill-package" / "skill.json")["manifest"]


def model_of(project: Path, locale: str) -> dict[str, Any]:
    return read(project / "skill-package" / "interactionModels" / "custom" / f"{locale}.json")


def round_trip(raw: str, type_name: str) -> Any:
    serializer = DefaultSerializer()
    return serializer.serialize(serializer.deserialize(raw, type_name))


per_locale = pytest.mark.parametrize("locale", LOCALES)


# --- the project's shape ---------------------------------------------------------------------


def test_the_project_is_an_ask_cli_v2_project_of_the_package(project: Path) -> None:
    assert read(project / "ask-resources.json") == ASK_RESOURCES
    assert ASK_RESOURCES["profiles"]["default"]["skillMetadata"]["src"] == "./skill-package"
    models = project / "skill-package" / "interactionModels" / "custom"
    assert sorted(p.stem for p in models.iterdir()) == sorted(LOCALES)


@per_locale
def test_the_models_are_the_repositorys_own(project: Path, locale: str) -> None:
    committed = SOURCE / "interactionModels" / "custom" / f"{locale}.json"

    assert model_of(project, locale) == read(committed)


def test_the_committed_manifest_is_the_generators_output_for_the_placeholder() -> None:
    committed = read(SOURCE / "skill.json")

    assert build_manifest(committed, PLACEHOLDER_BASE_URL) == committed
    assert urlsplit(PLACEHOLDER_BASE_URL).hostname.endswith(".example.com")


def test_only_urls_differ_from_the_committed_manifest(project: Path) -> None:
    generated = json.dumps(manifest_of(project))
    committed = json.dumps(read(SOURCE / "skill.json")["manifest"])

    assert generated.replace(BASE, PLACEHOLDER_BASE_URL) == committed


# --- Amazon's own models ---------------------------------------------------------------------


def test_amazons_model_reads_the_manifest_back_unchanged(project: Path) -> None:
    raw = (project / "skill-package" / "skill.json").read_text("utf-8")

    assert round_trip(raw, MANIFEST_TYPE) == json.loads(raw)


@per_locale
def test_amazons_model_reads_each_interaction_model_back_unchanged(
    project: Path, locale: str
) -> None:
    path = project / "skill-package" / "interactionModels" / "custom" / f"{locale}.json"
    raw = path.read_text("utf-8")

    assert round_trip(raw, MODEL_TYPE) == json.loads(raw)


def test_amazons_model_sees_the_fields_certification_needs(project: Path) -> None:
    raw = (project / "skill-package" / "skill.json").read_text("utf-8")
    manifest = DefaultSerializer().deserialize(raw, MANIFEST_TYPE).manifest

    assert manifest.apis.custom.endpoint.uri == BASE + ALEXA_PATH
    assert manifest.apis.custom.endpoint.ssl_certificate_type.value == "Trusted"
    for locale in LOCALES:
        listing = manifest.publishing_information.locales[locale]
        assert listing.small_icon_uri
        assert listing.large_icon_uri
        legal = manifest.privacy_and_compliance.locales[locale]
        assert legal.privacy_policy_url
        assert legal.terms_of_use_url


# --- URLs and what the app serves at them ----------------------------------------------------


def every_url(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [url for item in value.values() for url in every_url(item)]
    if isinstance(value, list):
        return [url for item in value for url in every_url(item)]
    return [value] if isinstance(value, str) and "://" in value else []


def test_every_url_is_https_under_the_base(project: Path) -> None:
    urls = every_url(manifest_of(project))

    assert len(urls) == 2 + 4 * len(LOCALES)  # two endpoints; icons, privacy, terms per locale
    for url in urls:
        assert url.startswith(BASE + "/"), url
        assert urlsplit(url).scheme == "https"


def test_the_endpoint_and_the_event_endpoint_are_the_alexa_route(project: Path, app: Flask) -> None:
    manifest = manifest_of(project)
    endpoint = {"uri": BASE + ALEXA_PATH, "sslCertificateType": "Trusted"}

    assert manifest["apis"]["custom"]["endpoint"] == endpoint
    assert manifest["events"]["endpoint"] == endpoint
    adapter = app.url_map.bind("coach.example.org", url_scheme="https")
    assert adapter.match(ALEXA_PATH, method="POST")[0] == "alexa.alexa"


@per_locale
@pytest.mark.parametrize(("field", "px"), [("smallIconUri", 108), ("largeIconUri", 512)])
def test_each_icon_is_a_png_of_its_size_served_by_the_app(
    project: Path, app: Flask, locale: str, field: str, px: int
) -> None:
    url = manifest_of(project)["publishingInformation"]["locales"][locale][field]

    with app.test_client().get(urlsplit(url).path) as response:
        status, mimetype, data = response.status_code, response.mimetype, response.data

    assert status == 200
    assert mimetype == "image/png"
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (px, px)
    assert {SMALL_ICON_PX, LARGE_ICON_PX} == {108, 512} == set(ICON_FILES)


@per_locale
def test_privacy_policy_and_terms_are_pages_the_app_serves(
    project: Path, app: Flask, locale: str
) -> None:
    legal = manifest_of(project)["privacyAndCompliance"]["locales"][locale]

    for field in ("privacyPolicyUrl", "termsOfUseUrl"):
        response = app.test_client().get(urlsplit(legal[field]).path)
        assert response.status_code == 200, field
        assert response.mimetype == "text/html", field


# --- the store listing -----------------------------------------------------------------------


def samples_of(model: dict[str, Any]) -> set[str]:
    language = model["interactionModel"]["languageModel"]
    return {" ".join(s.lower().split()) for i in language["intents"] for s in i["samples"]}


@per_locale
def test_example_phrases_start_with_alexa_and_match_a_sample(project: Path, locale: str) -> None:
    phrases = manifest_of(project)["publishingInformation"]["locales"][locale]["examplePhrases"]
    model = model_of(project, locale)
    invocation = model["interactionModel"]["languageModel"]["invocationName"]

    assert 1 <= len(phrases) <= EXAMPLE_PHRASES_MAX
    assert len(set(phrases)) == len(phrases)
    for phrase in phrases:
        assert phrase.startswith("Alexa, "), phrase
        assert invocation in phrase.lower(), phrase
        words = phrase.removeprefix("Alexa, ").lower()
        launch = next(w for w in LAUNCH_WORDS if words.startswith(f"{w} {invocation}"))
        request = words.removeprefix(f"{launch} {invocation}").strip()
        if not request:
            assert launch in ("open", "launch", "start", "begin", "load", "run"), phrase
            continue
        connector = next((c for c in CONNECTING_WORDS if request.startswith(f"{c} ")), None)
        utterance = request.removeprefix(f"{connector} ") if connector else request
        assert utterance in samples_of(model), f"{phrase!r}: {utterance!r} is no sample"


@per_locale
def test_the_listing_is_within_amazons_limits(project: Path, locale: str) -> None:
    publishing = manifest_of(project)["publishingInformation"]
    listing = publishing["locales"][locale]

    assert NAME_CHARS[0] <= len(listing["name"]) <= NAME_CHARS[1]
    assert 0 < len(listing["summary"]) <= SUMMARY_CHARS
    assert 0 < len(listing["description"]) <= DESCRIPTION_CHARS
    assert 0 < len(listing["keywords"]) <= KEYWORDS_MAX
    assert all(keyword.strip() == keyword and keyword for keyword in listing["keywords"])
    assert 0 < len(publishing["testingInstructions"]) <= TESTING_INSTRUCTIONS_CHARS


@per_locale
def test_the_description_carries_the_health_disclaimer(project: Path, locale: str) -> None:
    description = manifest_of(project)["publishingInformation"]["locales"][locale]["description"]

    for fragment in DISCLAIMER_FRAGMENTS:
        assert fragment in description.lower(), fragment


@per_locale
def test_the_description_states_the_code_s_hold_figures(project: Path, locale: str) -> None:
    description = manifest_of(project)["publishingInformation"]["locales"][locale]["description"]
    holds = {step.hold.seconds for step in load_routine().steps if step.hold is not None}
    low, high = HOLD_SECONDS_RANGE
    words = {1: "one", 2: "two", 3: "three"}

    assert holds == {30.0}
    assert "30 seconds unless you ask" in description
    assert f"from {low} to {high} seconds" in description
    assert f"{words[HOLDS_PER_SIDE_RANGE[0]]} to {words[HOLDS_PER_SIDE_RANGE[1]]} holds" in (
        description
    )


@per_locale
def test_the_listing_is_in_our_own_words(project: Path, locale: str) -> None:
    listing = manifest_of(project)["publishingInformation"]["locales"][locale]
    text = " ".join([listing["summary"], listing["description"]])

    assert not set(run_hashes(text)) & article_fingerprints()


def test_distribution_and_testing_fields_are_present(project: Path) -> None:
    publishing = manifest_of(project)["publishingInformation"]

    assert publishing["isAvailableWorldwide"] is False
    assert set(publishing["distributionCountries"]) == {loc[-2:] for loc in LOCALES}
    assert publishing["distributionMode"] == "PUBLIC"
    assert publishing["category"] == "EXERCISE_AND_WORKOUT"
    instructions = publishing["testingInstructions"]
    assert f"open {speech.INVOCATION_NAME}" in instructions
    assert "pair code" in instructions


# --- privacy and compliance, true to the code ------------------------------------------------

SKILL_SOURCES = sorted((Path(skill_package.__file__).parents[1] / "skill").rglob("*.py"))


def skill_source() -> str:
    return "\n".join(path.read_text("utf-8") for path in SKILL_SOURCES)


def test_privacy_and_compliance_fields_are_all_declared(project: Path) -> None:
    privacy = manifest_of(project)["privacyAndCompliance"]

    for field in (
        "allowsPurchases",
        "usesPersonalInfo",
        "isChildDirected",
        "isExportCompliant",
        "containsAds",
        "usesHealthInfo",
    ):
        assert isinstance(privacy[field], bool), field


def test_no_purchases_no_ads_and_no_personal_information_are_true_to_the_code(
    project: Path,
) -> None:
    manifest = manifest_of(project)
    privacy = manifest["privacyAndCompliance"]
    source = skill_source()

    assert privacy["allowsPurchases"] is False
    assert not re.search(r"monetization|Connections\.SendRequest|\bBuy\b|\bUpsell\b", source)
    assert privacy["containsAds"] is False
    assert privacy["isChildDirected"] is False
    # No permission asks Alexa for a name, an email, a phone number or an address.
    assert privacy["usesPersonalInfo"] is False
    assert "permissions" not in manifest
    assert not re.search(r"customerProfileApi|alexa::profile|alexa::devices:all:address", source)
    assert manifest["apis"]["custom"]["interfaces"] == []


def test_the_skill_is_told_when_it_is_disabled(project: Path) -> None:
    # The privacy page promises deletion on disabling: the event must be subscribed.
    assert {"eventName": "SKILL_DISABLED"} in manifest_of(project)["events"]["subscriptions"]


# --- the base URL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("https://coach.example.org", "https://coach.example.org"),
        ("https://coach.example.org/", "https://coach.example.org"),
        ("HTTPS://Coach.Example.ORG", "https://coach.example.org"),
        ("https://coach.example.org:443", "https://coach.example.org"),
        ("https://example.org/sciatica", "https://example.org/sciatica"),
        ("https://example.org/a/b-c_d.e~f/", "https://example.org/a/b-c_d.e~f"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ],
)
def test_a_good_base_url_is_normalised(given: str, base: str) -> None:
    assert check_base_url(given) == base
    assert PackageUrls.under(given).privacy == base + "/privacy"


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("http://coach.example.org", "https://"),
        ("ftp://coach.example.org", "https://"),
        ("coach.example.org", "https://"),
        ("", "empty"),
        ("https://", "not a full host name"),
        ("https://localhost", "not a full host name"),
        ("https://coach", "not a full host name"),
        ("https://127.0.0.1", "IP address"),
        ("https://[::1]", "IP address"),
        ("https://coach.example.org:8443", "port 443"),
        ("https://coach.example.org:x", "port"),
        ("https://user:pw@coach.example.org", "user name"),
        ("https://coach.example.org/?x=1", "query"),
        ("https://coach.example.org/#top", "fragment"),
        ("https://coach.example.org/a?", "query"),
        ("https://coach.example.org/a/../b", "path"),
        ("https://coach.example.org/a%20b", "path"),
        ("https://coach.example.org//a", "path"),
        ("https://coach.example.org/a b", "spaces"),
        ("https://coach_x.example.org", "not a valid host name"),
        ("https://-coach.example.org", "not a valid host name"),
        ("https://coach.example.123", "top-level domain"),
        ("https://coach..example.org", "not a valid host name"),
        ("https://bücher.example", "punycode"),
        ("https://" + "a" * 64 + ".example.org", "not a valid host name"),
    ],
)
def test_a_bad_base_url_is_refused_with_its_reason(given: str, reason: str) -> None:
    with pytest.raises(PackageError, match=re.escape(reason)):
        check_base_url(given)


# --- writing the project ---------------------------------------------------------------------


def test_a_folder_that_is_not_empty_is_refused_without_force(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", "utf-8")

    with pytest.raises(PackageError, match="not empty"):
        write_project(tmp_path, BASE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_force_replaces_the_package_and_keeps_the_ask_cli_state(tmp_path: Path) -> None:
    write_project(tmp_path, "https://old.example.org")
    stale = tmp_path / "skill-package" / "interactionModels" / "custom" / "de-DE.json"
    stale.write_text("{}", "utf-8")
    state = tmp_path / ".ask" / "ask-states.json"
    state.parent.mkdir()
    state.write_text('{"skillId": "amzn1.ask.skill.x"}', "utf-8")

    write_project(tmp_path, BASE, force=True)

    assert not stale.exists()
    assert state.read_text("utf-8") == '{"skillId": "amzn1.ask.skill.x"}'
    assert "old.example.org" not in (tmp_path / "skill-package" / "skill.json").read_text()


def test_a_bad_base_url_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(PackageError):
        write_project(out, "http://coach.example.org")
    assert not out.exists()


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "file"
    out.write_text("", "utf-8")

    with pytest.raises(PackageError, match="is a file"):
        write_project(out, BASE, force=True)


def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no skill package"):
        write_project(tmp_path / "out", BASE, source=tmp_path / "nowhere")
