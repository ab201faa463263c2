"""A voice profile: what it heard it times exactly, the rest from its likeness and prices."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.timing import ProfileError, VoiceProfile, WordPrices, shifted
from shared.timing.profile import run_key

HOLD = "Hold for 30 seconds."
CUE = "Starting now."


def a_profile(**changes: Any) -> VoiceProfile:
    fields: dict[str, Any] = {
        "name": "test voice",
        "parts": {
            HOLD.lower(): 1.6,
            CUE.lower(): 0.8,
            "picking up your hold with 12 seconds to go.": 2.4,
            run_key([HOLD, CUE]): 2.65,
        },
        "prices": WordPrices(fixed_s=0.3, per_syllable_s=0.2, per_word_s=0.0),
        "gap_s": 0.05,
        "gap_per_s": 0.01,
        "piece_gap_s": 0.25,
        "start_delay_s": 0.5,
    }
    return VoiceProfile(**{**fields, **changes})


def test_a_run_heard_whole_is_timed_as_heard() -> None:
    doc = f'<speak>{HOLD}<break time="300ms"/>{CUE}</speak>'
    assert a_profile().estimate(doc) == pytest.approx(0.5 + 2.65)


def test_a_run_never_heard_whole_is_its_pieces_and_the_piece_breaks() -> None:
    doc = f'<speak>{CUE}<break time="300ms"/>{HOLD}</speak>'
    assert a_profile().estimate(doc) == pytest.approx(0.5 + 0.8 + 0.25 + 1.6)


def test_a_longer_break_is_heard_as_the_voice_plays_breaks() -> None:
    doc = f'<speak>{HOLD}<break time="2s"/>{CUE}</speak>'
    assert a_profile().estimate(doc) == pytest.approx(0.5 + 1.6 + 0.05 + 2.0 * 1.01 + 0.8)


def test_breaks_before_the_first_word_and_after_the_last_are_plain_time() -> None:
    doc = f'<speak><break time="1s"/>{CUE}<break time="2s"/></speak>'
    assert a_profile().estimate(doc) == pytest.approx(0.5 + 1.0 + 0.8 + 2.0)


def test_an_unheard_text_is_timed_from_the_most_alike_heard_one() -> None:
    # "seventeen" has three syllables where "twelve" has one: two syllables' price more.
    said = a_profile().speech_seconds("Picking up your hold with 17 seconds to go.")
    assert said == pytest.approx(2.4 + 2 * 0.2)


def test_an_unheard_text_like_nothing_heard_is_priced_word_by_word() -> None:
    said = a_profile().speech_seconds("Breathe.")
    assert said == pytest.approx(0.3 + 1 * 0.2)


def test_writing_a_silence_for_this_voice_undoes_how_it_plays_breaks() -> None:
    profile = a_profile()
    written = profile.break_for_silence(30.0)
    assert written < 30.0
    assert profile.silence_heard(written) == pytest.approx(30.0)
    assert profile.break_for_silence(0.01) == 0.0  # never a negative break


def test_a_nudge_moves_every_time_and_is_bounded() -> None:
    doc = f"<speak>{CUE}</speak>"
    assert shifted(a_profile(), 0.3).estimate(doc) == pytest.approx(a_profile().estimate(doc) + 0.3)
    with pytest.raises(ProfileError, match="offset_s"):
        shifted(a_profile(), 5.0)


def test_a_profile_comes_back_from_its_file_exactly(tmp_path: Any) -> None:
    profile = a_profile(fit={"parts": 4})
    path = tmp_path / "voice.json"
    path.write_text(profile.dumps())
    again = VoiceProfile.load(path)
    assert again == profile
    assert again.estimate(f"<speak>{HOLD}</speak>") == profile.estimate(f"<speak>{HOLD}</speak>")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format": 2}, "format"),
        ({"prices": None}, "prices"),
        ({"parts": {}}, "parts"),
        ({"parts": [{"seconds": 1}]}, r"parts\[0\]"),
        ({"parts": [{"text": "a", "seconds": "1"}]}, r"parts\[0\].seconds"),
        ({"parts": [{"text": "a", "seconds": 3600}]}, "seconds"),
        ({"gap_s": float("nan")}, "gap_s"),
        ({"start_delay_s": -1}, "start_delay_s"),
        ({"piece_gap_s": True}, "piece_gap_s"),
        ({"name": 7}, "name"),
    ],
)
def test_a_broken_profile_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    data = {**a_profile().to_json(), **change}
    with pytest.raises(ProfileError, match=field):
        VoiceProfile.from_json(json.loads(json.dumps(data)))


def test_a_file_that_is_not_json_is_refused() -> None:
    with pytest.raises(ProfileError, match="not JSON"):
        VoiceProfile.loads("{not json")


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(
    st.fixed_dictionaries(
        {}, optional={k: _JSON for k in ("format", "name", "prices", "parts", "gap_s", "offset_s")}
    )
)
def test_any_json_is_a_profile_or_a_profile_error(data: dict[str, Any]) -> None:
    try:
        profile = VoiceProfile.from_json({**a_profile().to_json(), **data})
    except ProfileError:
        return
    seconds = profile.estimate(f'<speak>{HOLD}<break time="300ms"/>words never heard</speak>')
    assert math.isfinite(seconds)
    assert seconds >= 0


# -- the silence before a hold's end, after the text said before it -------------------------


def test_a_hold_end_after_a_measured_text_takes_that_texts_own_trailing_silence() -> None:
    profile = a_profile(
        gap_per_s=0.0, ends={CUE.lower(): 0.07, "6 seconds left on this hold.": 0.12}
    )

    assert profile.break_for_silence(20.0, CUE) == pytest.approx(20.0 - 0.05 - 0.07)
    # Another number, said the same way, trails as the one heard.
    assert profile.break_for_silence(20.0, "18 seconds left on this hold.") == pytest.approx(
        20.0 - 0.05 - 0.12
    )
    # A text like none heard gets the break line alone.
    assert profile.break_for_silence(20.0, "Okay, I'll buzz later.") == pytest.approx(20.0 - 0.05)
    assert profile.break_for_silence(20.0) == pytest.approx(20.0 - 0.05)


def test_ends_and_onsets_survive_the_profile_file_and_are_checked() -> None:
    profile = a_profile(ends={CUE.lower(): 0.07}, onsets={HOLD.lower(): 0.03})
    again = VoiceProfile.loads(profile.dumps())
    assert again.ends == profile.ends
    assert again.onsets == profile.onsets
    with pytest.raises(ProfileError, match="ends"):
        a_profile(ends={CUE.lower(): 5.0})
    with pytest.raises(ProfileError, match="not one of the parts"):
        a_profile(onsets={"never heard.": 0.1})


def test_a_reply_opening_with_a_measured_opening_is_timed_from_its_own_first_sound() -> None:
    doc = f"<speak>{HOLD}</speak>"
    plain = a_profile().estimate(doc)
    assert a_profile(onsets={HOLD.lower(): 0.06}).estimate(doc) == pytest.approx(plain + 0.06)
    # Said later in a reply, the opening's onset does not apply.
    later = f'<speak>{CUE}<break time="2s"/>{HOLD}</speak>'
    assert a_profile(onsets={HOLD.lower(): 0.06}).estimate(later) == pytest.approx(
        a_profile().estimate(later)
    )
