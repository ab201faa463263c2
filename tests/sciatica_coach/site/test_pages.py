"""The privacy policy and terms stay true to the code: a change in what is kept breaks a test.

What the policy lists as stored is compared with the SQLite schema, table by table and column
by column; the ways data leaves the store with the store's own methods; the log line with
the fields the request log really writes; and every figure with the constant it came from.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

from sciatica_coach.request_log import init_request_log
from sciatica_coach.site import pages
from sciatica_coach.site.pages import (
    LOGGED_FIELDS,
    counter_window_s,
    duration,
    kept_records,
    privacy_html,
    privacy_sections,
    terms_html,
    terms_sections,
)
from shared.pairing.limits import CLIENT_START_LIMIT, PER_USER_LIMITS
from shared.pairing.protocol import PAIRING_LIFETIME_S
from shared.pairing.service import KEEP_EXPIRED_S, TOUCH_EVERY_S
from shared.routine.engine import RunState
from shared.routine.settings import Settings
from shared.stores.base import CompletedRun, PairingStore, Store, UserVoice
from shared.stores.redis import RedisStore
from shared.stores.sqlite import SQLiteStore
from shared.timing.tuning import LISTEN_FOR_S
from shared.timing.voices import MAX_NUDGE_S
from shared.user_ref import USER_REF_HEX
from tests.support.own_words import article_fingerprints, run_hashes


def text_of(sections: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    return " ".join(" ".join([heading, *paragraphs]) for heading, paragraphs in sections)


PRIVACY = text_of(privacy_sections())
TERMS = text_of(terms_sections())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "coach.sqlite3")
    yield store
    store.close()


def schema(path: Path) -> dict[str, tuple[str, ...]]:
    with sqlite3.connect(path) as conn:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        found = {t: tuple(r[1] for r in conn.execute(f"PRAGMA table_info({t})")) for t in tables}
    conn.close()
    return found


# --- what is kept ----------------------------------------------------------------------------


def test_the_policy_lists_every_table_and_column_the_store_has(store: SQLiteStore) -> None:
    listed = {kept.table: kept.columns for kept in kept_records()}

    assert listed == schema(store.path)


def test_every_record_kept_has_its_own_section() -> None:
    headings = [heading for heading, _ in privacy_sections()]
    for kept in kept_records():
        assert kept.heading in headings
        assert kept.paragraphs


def test_the_settings_the_policy_names_are_the_settings_kept() -> None:
    # hold length, holds on each side, first side, warning buzz, moving on, time zone
    named = {
        "hold_seconds": "hold length",
        "holds_per_side": "holds on each side",
        "first_side": "which side goes first",
        "warning_buzz": "warning buzz",
        "flow": "moves on by itself",
        "time_zone": "time zone",
    }
    assert set(Settings().to_json()) == set(named)
    for phrase in named.values():
        assert phrase in PRIVACY, phrase


def test_the_ways_data_leaves_the_store_are_the_ones_the_policy_describes() -> None:
    # deleting on disabling, unpairing, a collected code, expired codes, old counters.
    # A new way to remove (or a purge of history) must be described before this passes.
    removers = {
        name
        for protocol in (Store, PairingStore)
        for name in vars(protocol)
        if re.match(r"(delete|purge|drop|expire|trim|forget|redeem)", name)
    }
    assert removers == {
        "delete_user",
        "delete_device",
        "delete_devices_of",
        "purge_pairings",
        "purge_counters",
        "redeem_pairing",
    }
    assert "Disable the skill in the Alexa app" in PRIVACY
    assert "unpair my watch" in PRIVACY
    assert "tap unpair on the watch face" in PRIVACY
    assert "deleted when the watch collects its token" in PRIVACY
    assert "no time limit" in PRIVACY


def test_disabling_deletes_every_row_of_the_user_the_policy_says_it_does(
    store: SQLiteStore,
) -> None:
    user = "amzn1.ask.account.TEST"
    store.ensure_user(user, 1.0)
    store.save_settings(user, Settings(time_zone="Europe/Berlin").dumps(), 1.0)
    store.save_voice(user, UserVoice(profile=None, offset_s=0.2, tuning="{}"), 1.0)
    store.save_run(user, RunState(routine_id="r", version=1), None, CompletedRun("x", "r", 1, 2))

    store.delete_user(user)

    with sqlite3.connect(store.path) as conn:
        for kept in kept_records():
            if "user_id" in kept.columns:
                rows = conn.execute(f"SELECT COUNT(*) FROM {kept.table} WHERE user_id = ?", (user,))
                assert rows.fetchone()[0] == 0, kept.table
    conn.close()


def test_history_has_no_time_limit_as_the_policy_says(store: SQLiteStore) -> None:
    store.save_run("u", RunState(routine_id="r", version=1), None, CompletedRun("old", "r", 0, 1))
    store.purge_pairings(10**12)
    store.purge_counters(10**12)

    assert [run.run_id for run in store.history("u", -1)] == ["old"]


# --- the figures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(1, "a second"), (60, "a minute"), (600, "10 minutes"), (3600, "an hour"), (7200, "2 hours"),
     (90, "90 seconds"), (0.5, "0.5 seconds")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_every_figure_is_the_code_s_own() -> None:
    assert f"({duration(PAIRING_LIFETIME_S)} later)" in PRIVACY
    assert f"once it is {duration(KEEP_EXPIRED_S)} past running out" in PRIVACY
    assert f"at most once in {duration(TOUCH_EVERY_S)}" in PRIVACY
    assert f"stops counting after {duration(LISTEN_FOR_S)}" in PRIVACY
    assert f"at most {MAX_NUDGE_S:g} second either way" in PRIVACY
    assert f"first {USER_REF_HEX} hex digits of a SHA-256 hash" in PRIVACY
    windows = {limit.window_s for limit in (*PER_USER_LIMITS, CLIENT_START_LIMIT)}
    assert counter_window_s() == max(windows)
    assert f"look back {duration(counter_window_s())} at most" in PRIVACY


# --- the logs --------------------------------------------------------------------------------


def test_the_log_line_has_exactly_the_fields_the_policy_names(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    init_request_log(app)
    with caplog.at_level(logging.INFO, logger="sciatica_coach.request_log"):
        app.test_client().get("/privacy?code=123456")

    (record,) = [r for r in caplog.records if r.name == "sciatica_coach.request_log"]
    written = set(vars(record)) - set(vars(logging.makeLogRecord({})))
    assert written - {"message", "asctime"} == set(LOGGED_FIELDS)
    assert record.path == "/privacy"
    assert "123456" not in json.dumps(vars(record), default=str)
    assert "the method, the path (never the query string" in PRIVACY
    assert "Your network address is not logged." in PRIVACY


# --- the terms -------------------------------------------------------------------------------


def test_the_terms_say_what_certification_and_safety_need() -> None:
    for phrase in ("not medical advice", "no substitute", "sharp pain", "numbness", "tingling",
                   "weakness", "Stop at once", "no promise", "liable"):  # fmt: skip
        assert phrase in TERMS, phrase


@pytest.mark.parametrize("text", [PRIVACY, TERMS], ids=["privacy", "terms"])
def test_the_pages_are_in_our_own_words(text: str) -> None:
    assert not set(run_hashes(text)) & article_fingerprints()


def test_the_pages_escape_their_text() -> None:
    assert "<p>" in privacy_html()
    assert "<p>" in terms_html()
    assert '"Alexa, ask sciatica coach to unpair my watch"' not in privacy_html()
    assert "&quot;Alexa, ask sciatica coach to unpair my watch&quot;" in privacy_html()
    assert pages.render("<x>", (("a&b", ("<i>",)),)).count("&lt;") == 3


def test_each_key_a_user_has_on_redis_is_one_of_the_tables_listed() -> None:
    # The Redis store keeps the same records under other names: a new key needs the page.
    as_table = {
        "user": "users",
        "settings": "users",
        "run": "runs",
        "history": "history",
        "history:order": "history",
        "voice": "voices",
        "devices": "devices",
    }
    keys = RedisStore.user_keys(SimpleNamespace(prefix="p:"), "someone")  # type: ignore[arg-type]

    assert set(keys) == set(as_table)
    assert set(as_table.values()) <= {kept.table for kept in kept_records()}
