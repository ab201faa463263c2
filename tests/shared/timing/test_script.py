"""A calibration script read in sections, and fitted take by take as if it were read whole."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.timing import silence_ssml
from shared.timing.fit import RecordingMismatch, Take, fit_profile, fit_takes, group
from shared.timing.profile import VoiceProfile
from shared.timing.script import (
    LONGEST_SEPARATOR_S,
    SEPARATOR_MIN_S,
    CalibrationScript,
    HoldEnd,
    ScriptError,
    Section,
)
from shared.timing.ssml import MAX_BREAK_SECONDS
from tests.support.timing import (
    GAP_PER_S,
    GAP_S,
    TUNING_SCRIPT,
    recording_of,
    section_of,
    then_next,
)

Sounds = list[tuple[float, float]]

#: Three sections of TUNING_SCRIPT, each with more than one part and a break inside.
SECTIONS: tuple[Section, ...] = ((0, 2), (2, 3), (5, 2))
#: Parts of about the same length with breaks of very different lengths: stretches matched
#: to the wrong parts pass every length check and fail only at the silences.
EVEN_SCRIPT = CalibrationScript(
    parts=(
        "Time's up. Switch sides.",
        "Time's up. Nicely done.",
        "Hold for 30 seconds.",
        "Starting now, gently.",
        "Say next when you're ready.",
    ),
    gaps=(1.5, 6.0, 2.5, 10.0),
)


def lengths_of(script: CalibrationScript, seconds: Sequence[float]) -> Callable[[str], float]:
    """An estimate that gives each part of `script` the length set for it, by its SSML."""
    by_ssml = {f"<speak>{part}</speak>": s for part, s in zip(script.parts, seconds, strict=True)}
    return lambda ssml: by_ssml[ssml]


def takes_of(
    script: CalibrationScript,
    sections: Sequence[Section],
    delays: Sequence[float],
    *,
    then_more: bool = True,
) -> list[Take]:
    """Each section heard in its own take, `delays[k]` after its response, then "next"."""
    takes, response_at = [], 100.0
    for section, delay in zip(sections, delays, strict=True):
        heard, end = section_of(script, section, response_at + delay)
        after, end = then_next(end) if then_more else ([], end)
        takes.append(Take(section, heard + after, response_at=response_at, then_more=then_more))
        response_at = end + 0.5
    return takes


def assert_same_voice(profile: VoiceProfile, other: VoiceProfile) -> None:
    assert profile.parts.keys() == other.parts.keys()
    for key, seconds in other.parts.items():
        assert profile.parts[key] == pytest.approx(seconds), key
    assert profile.prices.to_json() == pytest.approx(other.prices.to_json())
    assert (profile.gap_s, profile.gap_per_s) == pytest.approx((other.gap_s, other.gap_per_s))
    assert profile.piece_gap_s == pytest.approx(other.piece_gap_s)


# -- the script's own separators ----------------------------------------------------------------


def test_a_script_with_its_own_gaps_writes_them_between_its_parts() -> None:
    script = CalibrationScript(("One.", "Two.", "Three."), gaps=(2.0, 30.0))
    assert script.separators == (2.0, 30.0)
    assert script.body() == "One." + silence_ssml(2.0) + "Two." + silence_ssml(30.0) + "Three."
    assert script.ssml() == f"<speak>{script.body()}</speak>"


def test_without_gaps_a_script_keeps_the_standard_separators() -> None:
    script = CalibrationScript(("One.", "Two.", "Three.", "Four."))
    assert script.separators == (1.5, 4.0, LONGEST_SEPARATOR_S)


@pytest.mark.parametrize("gaps", [(), (2.0,), (2.0, 2.0, 2.0)], ids=["none", "one", "three"])
def test_a_gap_count_that_is_not_one_fewer_than_the_parts_is_refused(
    gaps: tuple[float, ...],
) -> None:
    with pytest.raises(ScriptError, match="3 parts need 2 separators"):
        CalibrationScript(("One.", "Two.", "Three."), gaps=gaps)


@pytest.mark.parametrize(
    "gap",
    [SEPARATOR_MIN_S, SEPARATOR_MIN_S + 0.29, LONGEST_SEPARATOR_S + 0.01, 0.0, -2.0],
    ids=["a-pause-inside-a-part", "just-short", "longer-than-a-hold", "zero", "negative"],
)
def test_a_gap_that_could_pass_for_a_pause_or_is_over_a_hold_is_refused(gap: float) -> None:
    with pytest.raises(ScriptError, match=r"a separator must be 1\.4 to 30 s"):
        CalibrationScript(("One.", "Two.", "Three."), gaps=(2.0, gap))


def test_the_shortest_and_longest_gaps_the_error_names_are_allowed() -> None:
    script = CalibrationScript(("One.", "Two.", "Three."), gaps=(1.4, 30.0))
    assert script.separators == (1.4, 30.0)


def test_a_section_is_its_parts_with_the_breaks_between_them_and_none_around() -> None:
    script = CalibrationScript(("One.", ("Two.", "Three."), "Four.", "Five."), (2.0, 3.0, 4.0))
    body = script.body((1, 2))
    assert body == 'Two.<break time="300ms"/>Three.' + silence_ssml(3.0) + "Four."
    assert script.ssml((1, 2)) == f"<speak>{body}</speak>"
    assert script.body((3, 1)) == "Five."
    assert script.body((0, 4)) == script.body()


# -- cutting the script into sections -----------------------------------------------------------


def test_sections_take_as_many_parts_as_fit_under_the_limit() -> None:
    script = CalibrationScript(tuple(f"Part {i}." for i in range(6)), (2.0, 2.0, 4.0, 2.0, 2.0))
    seconds = lengths_of(script, [5.0] * 6)
    # 5 + 2 + 5 + 2 + 5 = 19 fits under 20; with 4 + 5 more it would not.
    assert script.sections(seconds, 20.0) == ((0, 3), (3, 3))
    assert script.sections(seconds, 18.9) == ((0, 2), (2, 2), (4, 2))
    assert script.sections(seconds, 1000.0) == ((0, 6),)


def test_a_section_is_never_cut_at_a_separator_longer_than_one_break() -> None:
    script = CalibrationScript(tuple(f"Part {i}." for i in range(6)), (2.0, 4.0, 30.0, 2.0, 6.0))
    seconds = lengths_of(script, [5.0, 5.0, 5.0, 40.0, 5.0, 5.0])
    # Part 2 would end a section of its own but for the hold-long silence after it: the fit
    # needs that silence heard whole, so part 3 joins it however long the two take.
    assert script.sections(seconds, 20.0) == ((0, 2), (2, 2), (4, 2))


def test_a_part_longer_than_the_limit_is_a_section_alone() -> None:
    script = CalibrationScript(("Short.", "Very long.", "Short again."), (2.0, 2.0))
    seconds = lengths_of(script, [5.0, 25.0, 5.0])
    assert script.sections(seconds, 20.0) == ((0, 1), (1, 1), (2, 1))


def test_the_packaged_kind_of_script_is_cut_where_a_short_break_stands() -> None:
    script = CalibrationScript.of([f"Line number {i}, said slowly." for i in range(20)])
    seconds = lengths_of(script, [8.0] * 20)
    sections = script.sections(seconds, 40.0)
    cuts = [first + count - 1 for first, count in sections[:-1]]
    assert len(sections) > 1
    assert all(script.separators[i] <= MAX_BREAK_SECONDS for i in cuts)
    assert script.separators[-1] == LONGEST_SEPARATOR_S
    assert sections[-1][1] >= 2  # the last break is a hold's: its two parts stay together


@settings(max_examples=200, deadline=None, database=None)
@given(
    lengths=st.lists(st.floats(0.2, 60.0), min_size=3, max_size=25),
    separators=st.lists(st.sampled_from([1.5, 2.5, 4.0, 6.0, 10.0, 20.0, 30.0]), min_size=24),
    limit=st.floats(3.0, 150.0),
)
def test_sections_cover_every_part_in_order_and_cut_only_where_they_must(
    lengths: list[float], separators: list[float], limit: float
) -> None:
    script = CalibrationScript(
        tuple(f"Part {i}." for i in range(len(lengths))), tuple(separators[: len(lengths) - 1])
    )
    sections = script.sections(lengths_of(script, lengths), limit)

    def said(first: int, count: int) -> float:
        gaps = script.separators[first : first + count - 1]
        return sum(lengths[first : first + count]) + sum(gaps)

    assert [i for first, count in sections for i in range(first, first + count)] == list(
        range(len(lengths))
    )
    for first, count in sections:
        for more in range(2, count + 1):
            # A part joins past the limit only over a separator no section may end at.
            if said(first, more) > limit:
                assert script.separators[first + more - 2] > MAX_BREAK_SECONDS
    for first, count in sections[:-1]:
        after = first + count - 1
        assert script.separators[after] <= MAX_BREAK_SECONDS
        # ... and a section ends only where the next part would not fit.
        assert said(first, count + 1) > limit


# -- fitting take by take -----------------------------------------------------------------------


def test_a_script_heard_in_several_takes_fits_the_voice_it_fits_heard_whole() -> None:
    whole = fit_profile(TUNING_SCRIPT, recording_of(TUNING_SCRIPT, 0.8), response_at=0.0)
    takes = fit_takes(TUNING_SCRIPT, takes_of(TUNING_SCRIPT, SECTIONS, [0.8, 0.8, 0.8]))
    assert_same_voice(takes, whole)
    assert (takes.gap_s, takes.gap_per_s) == pytest.approx((GAP_S, GAP_PER_S))
    assert takes.start_delay_s == pytest.approx(0.8)
    assert takes.fit is not None
    assert takes.fit["parts"] == len(TUNING_SCRIPT.parts)


def test_what_follows_a_section_is_left_out_when_more_is_said_after_it() -> None:
    answered = takes_of(TUNING_SCRIPT, SECTIONS, [0.8, 0.8, 0.8])
    assert len(group(answered[0].sounds)) == 2 + 2  # two parts, the closing words, "next"
    quiet = takes_of(TUNING_SCRIPT, SECTIONS, [0.8, 0.8, 0.8], then_more=False)
    assert_same_voice(fit_takes(TUNING_SCRIPT, answered), fit_takes(TUNING_SCRIPT, quiet))


def test_without_more_said_after_a_section_any_extra_stretch_is_refused() -> None:
    takes = takes_of(TUNING_SCRIPT, SECTIONS, [0.8, 0.8, 0.8])
    second = takes[1]
    takes[1] = Take(second.section, second.sounds, second.response_at, then_more=False)
    with pytest.raises(
        RecordingMismatch, match=r"heard 5 separate stretches of speech in part 2 of 3, .* 3 parts"
    ):
        fit_takes(TUNING_SCRIPT, takes)


def test_too_few_stretches_are_refused_even_with_more_said_after() -> None:
    takes = takes_of(TUNING_SCRIPT, SECTIONS, [0.8, 0.8, 0.8], then_more=False)
    last = takes[2]
    takes[2] = Take(last.section, list(last.sounds)[:-1], last.response_at, then_more=True)
    with pytest.raises(RecordingMismatch, match=r"heard 1 separate .* in part 3 of 3"):
        fit_takes(TUNING_SCRIPT, takes)


def test_a_silent_take_is_refused_by_its_number() -> None:
    takes = takes_of(TUNING_SCRIPT, SECTIONS, [0.8, 0.8, 0.8])
    takes[1] = Take(SECTIONS[1], [], takes[1].response_at, then_more=True)
    with pytest.raises(RecordingMismatch, match="no speech in part 2 of 3"):
        fit_takes(TUNING_SCRIPT, takes)


def test_sound_before_a_takes_response_left_is_not_the_script() -> None:
    takes = takes_of(TUNING_SCRIPT, SECTIONS, [0.8, 0.8, 0.8])
    clean = fit_takes(TUNING_SCRIPT, takes)
    second = takes[1]
    assert second.response_at is not None
    # The last "next" trailing off, and a cough, both before the response left.
    before = [
        (second.response_at - 3.0, second.response_at - 2.2),
        (second.response_at - 1.0, second.response_at - 0.5),
    ]
    takes[1] = Take(second.section, [*before, *second.sounds], second.response_at, True)
    noisy = fit_takes(TUNING_SCRIPT, takes)
    assert_same_voice(noisy, clean)
    assert noisy.start_delay_s == pytest.approx(0.8)


def test_the_start_delay_is_the_median_of_the_takes_delays() -> None:
    profile = fit_takes(TUNING_SCRIPT, takes_of(TUNING_SCRIPT, SECTIONS, [0.5, 2.0, 0.9]))
    assert profile.start_delay_s == pytest.approx(0.9)


def test_takes_that_do_not_know_when_their_response_left_measure_no_start_delay() -> None:
    takes = [
        Take(t.section, t.sounds, None, t.then_more)
        for t in takes_of(TUNING_SCRIPT, SECTIONS, [0.5, 2.0, 0.9])
    ]
    assert fit_takes(TUNING_SCRIPT, takes).start_delay_s is None


def test_stretches_shifted_by_one_part_are_refused_at_the_pause_they_miss() -> None:
    heard = recording_of(EVEN_SCRIPT, 0.8)
    first, *rest = group(heard)
    # The first part was too quiet to hear: every later one is taken for the part before it,
    # and the closing words for the last. Their lengths are all plausible; their silences
    # are not the script's.
    lost: Sounds = [(s, e) for s, e in heard if s > first.end]
    end = rest[-1].end
    take = Take((0, 5), [*lost, (end + 2.5, end + 4.2)], response_at=0.0, then_more=True)
    with pytest.raises(
        RecordingMismatch,
        match=r"a 1\.5 s pause in the script was heard as 6\.06 s: the stretches of speech do "
        r"not line up",
    ):
        fit_takes(EVEN_SCRIPT, [take])
    # Heard in full, the same script fits.
    assert fit_takes(EVEN_SCRIPT, [Take((0, 5), heard, 0.0)]).start_delay_s == pytest.approx(0.8)


@pytest.mark.parametrize(
    "sections",
    [
        ((0, 2), (5, 2)),
        ((0, 3), (2, 5)),
        ((2, 3), (0, 2), (5, 2)),
        ((0, 2), (2, 3), (5, 2), (5, 2)),
        ((0, 2), (2, 3)),
        (),
    ],
    ids=["a-gap", "overlapping", "out-of-order", "twice", "short-of-the-end", "no-takes"],
)
def test_takes_that_do_not_cover_the_parts_once_in_order_are_an_error(
    sections: tuple[Section, ...],
) -> None:
    takes = [Take(section, recording_of(TUNING_SCRIPT)) for section in sections]
    with pytest.raises(ValueError, match="cover the script's parts once each, in order") as error:
        fit_takes(TUNING_SCRIPT, takes)
    assert not isinstance(error.value, RecordingMismatch)  # the caller's mistake, not the sound


# -- what a hold's end costs after the text before it ------------------------------------------


def test_the_silence_before_a_hold_end_is_learned_after_each_text_that_precedes_one() -> None:
    script = CalibrationScript.of(
        [
            "Hold for 30 seconds.",
            "Starting now.",
            HoldEnd("Time's up. Nicely done."),
            "Twelve seconds left on this hold.",
            HoldEnd("Time's up. Nicely done."),
            "That's the last line. Thank you.",
        ]
    )
    assert len(script.parts) == 6  # the hold end is said twice
    assert script.hold_ends == {2, 4}
    sounds = recording_of(script)
    # This voice trails 0.1 s longer after "hold." than after "now.".
    after_hold = script.parts.index("Twelve seconds left on this hold.")
    shift_from = group(sounds)[after_hold].end
    sounds = [(a + 0.1, b + 0.1) if a > shift_from else (a, b) for a, b in sounds]

    profile = fit_profile(script, sounds)

    trailing = profile.ends
    assert set(trailing) == {"starting now.", "twelve seconds left on this hold."}
    assert trailing["twelve seconds left on this hold."] - trailing["starting now."] == (
        pytest.approx(0.1, abs=1e-6)
    )
    assert profile.break_for_silence(20, "Twelve seconds left on this hold.") == pytest.approx(
        profile.break_for_silence(20, "Starting now.") - 0.1
    )
