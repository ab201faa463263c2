"""The Device Settings API client, against a real fake HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skill.alexa_settings import (
    MAX_ANSWER_BYTES,
    AlexaSettings,
    Origin,
    SettingsApiError,
    parse_extra_origins,
    parse_origin,
)
from tests.support.alexa_api import SettingsApi

DEVICE = "amzn1.ask.device.AEXAMPLE/../x?y"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln"
#: Generous: a loopback answer on a busy machine must never trip it.
PATIENT_S = 20.0
#: Short: only for answers that never come, so the test waits this long once.
IMPATIENT_S = 0.3


@pytest.fixture
def api() -> Iterator[SettingsApi]:
    with SettingsApi(zone="America/New_York") as fake:
        yield fake


@pytest.fixture
def client(api: SettingsApi) -> AlexaSettings:
    return AlexaSettings([api.origin], timeout_s=PATIENT_S)


def test_the_zone_is_read_from_the_devices_settings_with_the_requests_token(
    api: SettingsApi, client: AlexaSettings
) -> None:
    assert client.time_zone(api.endpoint, DEVICE, TOKEN) == "America/New_York"
    [seen] = api.seen
    assert seen.path == (
        "/v2/devices/amzn1.ask.device.AEXAMPLE%2F..%2Fx%3Fy/settings/System.timeZone"
    )
    assert seen.authorization == f"Bearer {TOKEN}"


def test_a_trailing_slash_on_the_endpoint_is_the_same_origin(
    api: SettingsApi, client: AlexaSettings
) -> None:
    assert client.time_zone(api.endpoint + "/", "d", TOKEN) == "America/New_York"
    assert api.seen[0].path == "/v2/devices/d/settings/System.timeZone"


@pytest.mark.parametrize(
    "answer",
    [
        "status-403",
        "status-404",
        "status-500",
        "status-503",
        "garbage",
        "deep-json",
        "not-a-string",
        "unknown-zone",
        "declared-too-big",
        "endless",
        "empty",
    ],
)
def test_an_answer_that_is_no_zone_is_an_error_that_says_why(
    answer: str, api: SettingsApi, client: AlexaSettings
) -> None:
    api.answer = answer
    with pytest.raises(SettingsApiError) as caught:
        client.time_zone(api.endpoint, "d", TOKEN)
    assert TOKEN not in str(caught.value)
    assert len(api.seen) == 1


def test_a_redirect_is_refused_and_never_followed(api: SettingsApi, client: AlexaSettings) -> None:
    api.answer = "redirect"
    with pytest.raises(SettingsApiError, match="HTTP 302"):
        client.time_zone(api.endpoint, "d", TOKEN)
    assert [seen.path for seen in api.seen] == ["/v2/devices/d/settings/System.timeZone"]


def test_an_answer_over_the_cap_is_refused_however_it_comes(
    api: SettingsApi, client: AlexaSettings
) -> None:
    api.answer = "declared-too-big"
    with pytest.raises(SettingsApiError, match=f"over {MAX_ANSWER_BYTES}"):
        client.time_zone(api.endpoint, "d", TOKEN)
    api.answer = "endless"
    with pytest.raises(SettingsApiError, match=f"over {MAX_ANSWER_BYTES} bytes"):
        client.time_zone(api.endpoint, "d", TOKEN)


def test_no_answer_within_the_timeout_is_an_error(api: SettingsApi) -> None:
    api.answer = "slow"
    client = AlexaSettings([api.origin], timeout_s=IMPATIENT_S)
    with pytest.raises(SettingsApiError, match="no answer within"):
        client.time_zone(api.endpoint, "d", TOKEN)


def test_a_host_that_is_not_listening_is_an_error() -> None:
    with SettingsApi() as gone:
        endpoint, origin = gone.endpoint, gone.origin
    with pytest.raises(SettingsApiError, match="the call failed"):
        AlexaSettings([origin], timeout_s=PATIENT_S).time_zone(endpoint, "d", TOKEN)


# -- only hosts we trust are ever called ------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://api.amazonalexa.com",
        "https://api.amazonalexa.com/",
        "https://API.AmazonAlexa.com",
        "https://api.amazonalexa.com:443",
        "https://api.eu.amazonalexa.com",
        "https://api.fe.amazonalexa.com",
        "https://api.fe.amazon.com",
    ],
)
def test_amazons_api_hosts_are_trusted_over_https(endpoint: str) -> None:
    assert AlexaSettings().trusted_origin(endpoint) is not None


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://api.amazonalexa.com",
        "https://api.amazonalexa.com:8443",
        "https://api.amazonalexa.com.evil.example",
        "https://evil.example/api.amazonalexa.com",
        "https://evil.example#@api.amazonalexa.com",
        "https://evil.example?.api.amazonalexa.com",
        "https://user@api.amazonalexa.com",
        "https://api.amazonalexa.com@evil.example",
        "https://api.amazonalexa.com\\@evil.example",
        "https://api.amazonalexa.com/v2/devices",
        "https://api.amazonalexa.com.",
        "https://apiamazonalexa.com",
        "https://xapi.amazonalexa.com",
        "https://api.abc.amazonalexa.com",
        "https://api.amazon.com",
        "https://169.254.169.254",
        "http://127.0.0.1:8080",
        "file:///etc/passwd",
        "https://api.amazonalexa.com%2f@evil.example",
        " https://api.amazonalexa.com",
        "",
        None,
        42,
    ],
)
def test_any_other_endpoint_is_refused_without_a_call(endpoint: object, api: SettingsApi) -> None:
    client = AlexaSettings(timeout_s=PATIENT_S)
    assert client.trusted_origin(endpoint) is None
    with pytest.raises(SettingsApiError, match="not a host we call"):
        client.time_zone(endpoint, "d", TOKEN)
    assert api.seen == []


def test_the_fake_is_never_called_unless_listed(api: SettingsApi) -> None:
    with pytest.raises(SettingsApiError, match="not a host we call"):
        AlexaSettings(timeout_s=PATIENT_S).time_zone(api.endpoint, "d", TOKEN)
    other = parse_origin(f"http://127.0.0.1:{api.origin.port + 1}")
    with pytest.raises(SettingsApiError, match="not a host we call"):
        AlexaSettings([other], timeout_s=PATIENT_S).time_zone(api.endpoint, "d", TOKEN)
    assert api.seen == []


@pytest.mark.parametrize(
    ("device", "token"),
    [("", TOKEN), (None, TOKEN), ("d" * 513, TOKEN), ("d", ""), ("d", None), ("d", "a\r\nb: c")],
)
def test_a_request_without_a_usable_device_or_token_makes_no_call(
    device: object, token: object, api: SettingsApi, client: AlexaSettings
) -> None:
    with pytest.raises(SettingsApiError, match="usable"):
        client.time_zone(api.endpoint, device, token)
    assert api.seen == []


# -- the deployment's own hosts (SCIATICA_ALEXA_API_HOSTS) ------------------------------------


def test_extra_origins_are_parsed_and_normalised() -> None:
    assert parse_extra_origins(" http://127.0.0.1:8123 , https://API.example.test/,") == (
        Origin("http", "127.0.0.1", 8123),
        Origin("https", "api.example.test", 443),
    )
    assert parse_extra_origins("http://[::1]:9000")[0].url("/x") == "http://[::1]:9000/x"
    assert parse_extra_origins("") == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("http://api.example.test", "loopback"),
        ("http://10.0.0.1:80", "loopback"),
        ("ftp://127.0.0.1", "https://"),
        ("https://api.example.test/v2", "no user, path"),
        ("https://user@api.example.test", "no user, path"),
        ("https://api.example.test?x=1", "no user, path"),
        ("https://api.example.test:99999", "out of range|Port"),
        ("https://", "no host"),
    ],
)
def test_a_bad_extra_origin_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_extra_origins(text)
