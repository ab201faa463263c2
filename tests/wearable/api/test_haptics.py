"""Haptic patterns: one per cue, told apart by touch alone, and playable on every watch platform."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest

from shared.routine.cues import WARNING_LEAD_S, CueKind
from wearable.api.haptics import (
    FITBIT_VIBRATION_PATTERNS,
    MAX_GARMIN_PROFILES,
    MAX_SEGMENT_MS,
    MAX_SEGMENTS,
    WATCHOS_HAPTIC_TYPES,
    HapticPattern,
    HapticPatternError,
    Platform,
    Segment,
    all_platforms,
    garmin_profile_count,
    pattern_for,
    to_fitbit,
    to_garmin,
    to_watchos,
    to_wear_os,
    to_web_vibration,
)

ALL_PATTERNS = [pattern_for(kind) for kind in CueKind]
each_pattern = pytest.mark.parametrize("pattern", ALL_PATTERNS, ids=[k.value for k in CueKind])


def a_valid_dict() -> dict[str, Any]:
    return {
        "name": "hold_end",
        "segments": [
            {"on_ms": 200, "off_ms": 100, "intensity": 0.5},
            {"on_ms": 200, "off_ms": 0, "intensity": 1.0},
        ],
    }


def rejected_at(data: object) -> str:
    with pytest.raises(HapticPatternError) as caught:
        HapticPattern.from_dict(data)
    assert caught.value.field in str(caught.value)
    return caught.value.field


# --- the four patterns -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CueKind))
def test_every_cue_kind_has_a_pattern_named_after_it(kind: CueKind) -> None:
    assert pattern_for(kind).name is kind


def test_no_two_cues_feel_the_same() -> None:
    for a, b in itertools.combinations(ALL_PATTERNS, 2):
        assert a.segments != b.segments, (a.name, b.name)


def test_no_two_cues_feel_the_same_even_without_intensity_on_the_web() -> None:
    for a, b in itertools.combinations(ALL_PATTERNS, 2):
        assert to_web_vibration(a) != to_web_vibration(b), (a.name, b.name)


def test_the_cues_are_told_apart_by_how_many_buzzes_you_feel() -> None:
    def pulses(kind: CueKind) -> int:
        return sum(1 for entry in to_garmin(pattern_for(kind)) if entry["duty_cycle"] == 0) + 1

    assert pulses(CueKind.HOLD_START) == 1
    assert pulses(CueKind.HOLD_WARNING) == 2
    assert pulses(CueKind.HOLD_END) == 3


def test_the_warning_is_lighter_than_the_start_and_the_end_is_the_strongest() -> None:
    def peak(kind: CueKind) -> float:
        return max(s.intensity for s in pattern_for(kind).segments)

    assert peak(CueKind.HOLD_WARNING) < peak(CueKind.HOLD_START) < peak(CueKind.HOLD_END)


def test_routine_complete_is_a_rising_ramp_and_the_longest_pattern() -> None:
    done = pattern_for(CueKind.ROUTINE_COMPLETE)
    ramp = [s.intensity for s in done.segments if s.off_ms == 0][:3]
    assert ramp == sorted(ramp)
    assert len(set(ramp)) == len(ramp)
    assert done.duration_ms == max(p.duration_ms for p in ALL_PATTERNS)


@each_pattern
def test_every_pattern_is_over_well_before_the_warning_lead(pattern: HapticPattern) -> None:
    # The warning buzz must never still be running when the hold-end buzz starts.
    assert pattern.duration_ms < WARNING_LEAD_S * 1000


@each_pattern
def test_every_pattern_is_within_every_platform_limit(pattern: HapticPattern) -> None:
    assert 1 <= len(pattern.segments) <= MAX_SEGMENTS
    for s in pattern.segments:
        assert 0 < s.on_ms <= MAX_SEGMENT_MS
        assert 0 <= s.off_ms <= MAX_SEGMENT_MS
        assert 0 < s.intensity <= 1
    assert len(to_garmin(pattern)) <= MAX_GARMIN_PROFILES


def test_the_limits_are_the_documented_platform_limits() -> None:
    assert (MAX_SEGMENTS, MAX_GARMIN_PROFILES, MAX_SEGMENT_MS) == (8, 8, 10_000)


# --- validation --------------------------------------------------------------------------------


def test_nine_segments_are_too_many() -> None:
    data = {"name": "hold_end", "segments": [{"on_ms": 50, "off_ms": 0, "intensity": 1}] * 9}
    assert rejected_at(data) == "segments"


def test_no_segments_at_all_is_rejected() -> None:
    assert rejected_at({"name": "hold_end", "segments": []}) == "segments"


def test_a_buzz_longer_than_ten_seconds_is_rejected() -> None:
    data = a_valid_dict()
    data["segments"][0]["on_ms"] = 10_001
    assert rejected_at(data) == "segments[0].on_ms"


def test_a_pause_longer_than_ten_seconds_is_rejected() -> None:
    data = a_valid_dict()
    data["segments"][0]["off_ms"] = 10_001
    assert rejected_at(data) == "segments[0].off_ms"


def test_exactly_ten_seconds_is_allowed() -> None:
    data = a_valid_dict()
    data["segments"][0]["on_ms"] = 10_000
    data["segments"][0]["off_ms"] = 10_000
    assert HapticPattern.from_dict(data).duration_ms == 20_200


def test_intensity_above_one_is_rejected() -> None:
    data = a_valid_dict()
    data["segments"][1]["intensity"] = 1.5
    assert rejected_at(data) == "segments[1].intensity"


def test_intensity_zero_is_rejected_because_silence_is_spelled_off_ms() -> None:
    data = a_valid_dict()
    data["segments"][0]["intensity"] = 0
    assert rejected_at(data) == "segments[0].intensity"


@pytest.mark.parametrize("field", ["on_ms", "off_ms"])
def test_negative_durations_are_rejected(field: str) -> None:
    data = a_valid_dict()
    data["segments"][0][field] = -1
    assert rejected_at(data) == f"segments[0].{field}"


def test_a_zero_length_buzz_is_rejected() -> None:
    data = a_valid_dict()
    data["segments"][0]["on_ms"] = 0
    assert rejected_at(data) == "segments[0].on_ms"


def test_a_trailing_pause_is_rejected_because_no_one_would_feel_it() -> None:
    data = a_valid_dict()
    data["segments"][1]["off_ms"] = 500
    assert rejected_at(data) == "segments[1].off_ms"


@pytest.mark.parametrize("field", ["on_ms", "off_ms", "intensity"])
def test_a_missing_segment_field_is_named(field: str) -> None:
    data = a_valid_dict()
    del data["segments"][1][field]
    assert rejected_at(data) == f"segments[1].{field}"


@pytest.mark.parametrize("field", ["name", "segments"])
def test_a_missing_pattern_field_is_named(field: str) -> None:
    data = a_valid_dict()
    del data[field]
    assert rejected_at(data) == field


def test_a_misspelled_field_is_named_rather_than_ignored() -> None:
    data = a_valid_dict()
    data["segments"][0]["onms"] = data["segments"][0].pop("on_ms")
    assert rejected_at(data) == "segments[0].on_ms"
    data = a_valid_dict()
    data["segments"][0]["colour"] = "red"
    assert rejected_at(data) == "segments[0].colour"


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("on_ms", "400"),
        ("on_ms", 400.0),
        ("off_ms", None),
        ("on_ms", True),
        ("intensity", "0.5"),
        ("intensity", False),
    ],
)
def test_wrong_types_are_named(field: str, bad: object) -> None:
    data = a_valid_dict()
    data["segments"][0][field] = bad
    assert rejected_at(data) == f"segments[0].{field}"


def test_an_integer_intensity_is_a_number_like_any_other() -> None:
    data = a_valid_dict()
    data["segments"][0]["intensity"] = 1
    assert HapticPattern.from_dict(data).segments[0].intensity == 1


@pytest.mark.parametrize("bad", ["", "buzz", 3, None])
def test_the_name_must_be_a_cue_kind(bad: object) -> None:
    data = a_valid_dict()
    data["name"] = bad
    assert rejected_at(data) == "name"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "pattern"),
        ("hold_end", "pattern"),
        ({"name": "hold_end", "segments": "buzz"}, "segments"),
        ({"name": "hold_end", "segments": [[400, 0, 1.0]]}, "segments[0]"),
    ],
)
def test_wrong_shapes_are_named(data: object, field: str) -> None:
    assert rejected_at(data) == field


def test_constructing_a_bad_pattern_directly_fails_the_same_way() -> None:
    with pytest.raises(HapticPatternError) as caught:
        HapticPattern(CueKind.HOLD_START, (Segment(400, 0, 1.5),))
    assert caught.value.field == "segments[0].intensity"


def test_the_error_is_a_value_error_with_the_field_and_problem() -> None:
    with pytest.raises(ValueError, match=r"segments\[0\]\.on_ms: must be at most 10000 ms"):
        HapticPattern(CueKind.HOLD_START, (Segment(10_001, 0, 1.0),))


# --- Garmin's 8-profile cap --------------------------------------------------------------------


def test_each_buzz_and_each_nonzero_pause_costs_one_garmin_profile() -> None:
    assert garmin_profile_count(pattern_for(CueKind.HOLD_END)) == 5
    assert len(to_garmin(pattern_for(CueKind.HOLD_END))) == 5


def test_eight_buzzes_with_gaps_would_need_fifteen_profiles_and_are_rejected() -> None:
    data = {"name": "hold_end", "segments": [{"on_ms": 100, "off_ms": 100, "intensity": 1}] * 8}
    data["segments"][-1] = {"on_ms": 100, "off_ms": 0, "intensity": 1}
    with pytest.raises(HapticPatternError) as caught:
        HapticPattern.from_dict(data)
    assert caught.value.field == "segments"
    assert "15 Garmin VibeProfiles" in str(caught.value)


def test_eight_back_to_back_buzzes_fit_in_eight_profiles() -> None:
    data = {
        "name": "routine_complete",
        "segments": [{"on_ms": 100, "off_ms": 0, "intensity": (i + 1) / 8} for i in range(8)],
    }
    assert len(to_garmin(HapticPattern.from_dict(data))) == 8


def test_four_pulses_with_gaps_is_the_most_that_fits_on_garmin() -> None:
    segments = [Segment(100, 100, 1.0)] * 4 + [Segment(100, 0, 1.0)]
    with pytest.raises(HapticPatternError, match="9 Garmin VibeProfiles"):
        HapticPattern(CueKind.HOLD_END, tuple(segments))
    assert len(to_garmin(HapticPattern(CueKind.HOLD_END, tuple(segments[1:])))) == 7


# --- round trip ----------------------------------------------------------------------------------


@each_pattern
def test_to_dict_then_from_dict_gives_the_same_pattern(pattern: HapticPattern) -> None:
    assert HapticPattern.from_dict(pattern.to_dict()) == pattern


@each_pattern
def test_the_dict_survives_json(pattern: HapticPattern) -> None:
    data = json.loads(json.dumps(pattern.to_dict()))
    assert HapticPattern.from_dict(data) == pattern


def test_from_dict_does_not_keep_a_reference_to_the_callers_lists() -> None:
    data = a_valid_dict()
    pattern = HapticPattern.from_dict(data)
    before = copy.deepcopy(pattern)
    data["segments"].append({"on_ms": 1, "off_ms": 0, "intensity": 1})
    assert pattern == before


# --- Wear OS: VibrationEffect.createWaveform(timings, amplitudes, repeat) ------------------------


@each_pattern
def test_wear_os_has_one_amplitude_per_timing_and_plays_once(pattern: HapticPattern) -> None:
    wave = to_wear_os(pattern)
    assert len(wave["timings"]) == len(wave["amplitudes"])
    assert wave["repeat"] == -1


@each_pattern
def test_wear_os_starts_buzzing_at_once(pattern: HapticPattern) -> None:
    wave = to_wear_os(pattern)
    assert (wave["timings"][0], wave["amplitudes"][0]) == (0, 0)


@each_pattern
def test_wear_os_alternates_off_and_on_with_valid_amplitudes(pattern: HapticPattern) -> None:
    wave = to_wear_os(pattern)
    assert all(0 <= a <= 255 for a in wave["amplitudes"])
    assert all(a > 0 for a in wave["amplitudes"][1::2]), "every buzz is felt"
    assert all(a == 0 for a in wave["amplitudes"][0::2]), "every pause is still"
    assert wave["timings"][1::2] == [s.on_ms for s in pattern.segments]
    assert sum(wave["timings"]) == pattern.duration_ms


def test_wear_os_full_intensity_is_255_and_a_faint_buzz_is_never_rounded_to_silence() -> None:
    assert max(to_wear_os(pattern_for(CueKind.HOLD_END))["amplitudes"]) == 255
    faint = HapticPattern(CueKind.HOLD_START, (Segment(100, 0, 0.001),))
    assert to_wear_os(faint)["amplitudes"] == [0, 1]


# --- Web: navigator.vibrate(pattern) --------------------------------------------------------------


@each_pattern
def test_web_alternates_buzz_and_pause_and_ends_on_a_buzz(pattern: HapticPattern) -> None:
    web = to_web_vibration(pattern)
    assert len(web) % 2 == 1
    assert web[0::2] == [s.on_ms for s in pattern.segments]
    assert web[1::2] == [s.off_ms for s in pattern.segments[:-1]]
    assert all(isinstance(ms, int) and 0 <= ms <= MAX_SEGMENT_MS for ms in web)


@each_pattern
def test_web_lasts_exactly_as_long_as_the_pattern(pattern: HapticPattern) -> None:
    assert sum(to_web_vibration(pattern)) == pattern.duration_ms


# --- Garmin: Attention.vibrate([VibeProfile(dutyCycle, length), ...]) ----------------------------


@each_pattern
def test_garmin_profiles_are_in_range_and_last_as_long_as_the_pattern(
    pattern: HapticPattern,
) -> None:
    profiles = to_garmin(pattern)
    assert 1 <= len(profiles) <= MAX_GARMIN_PROFILES
    assert all(0 <= p["duty_cycle"] <= 100 for p in profiles)
    assert all(0 < p["length_ms"] <= MAX_SEGMENT_MS for p in profiles)
    assert sum(p["length_ms"] for p in profiles) == pattern.duration_ms


@each_pattern
def test_garmin_buzzes_keep_a_duty_cycle_and_pauses_are_duty_zero(pattern: HapticPattern) -> None:
    profiles = to_garmin(pattern)
    buzzes = [p for p in profiles if p["duty_cycle"] > 0]
    assert [p["length_ms"] for p in buzzes] == [s.on_ms for s in pattern.segments]
    assert profiles[0]["duty_cycle"] > 0
    assert profiles[-1]["duty_cycle"] > 0


def test_garmin_maps_intensity_to_percent() -> None:
    done = to_garmin(pattern_for(CueKind.ROUTINE_COMPLETE))
    assert [p["duty_cycle"] for p in done] == [25, 50, 75, 100, 0, 100]


# --- named-haptic platforms ----------------------------------------------------------------------


@each_pattern
def test_watchos_plays_a_documented_wkhaptictype(pattern: HapticPattern) -> None:
    assert to_watchos(pattern) in WATCHOS_HAPTIC_TYPES


@each_pattern
def test_fitbit_plays_a_documented_vibration_pattern(pattern: HapticPattern) -> None:
    assert to_fitbit(pattern) in FITBIT_VIBRATION_PATTERNS


def test_named_haptics_are_distinct_per_cue() -> None:
    assert len({to_watchos(p) for p in ALL_PATTERNS}) == len(ALL_PATTERNS)
    assert len({to_fitbit(p) for p in ALL_PATTERNS}) == len(ALL_PATTERNS)


def test_named_haptics_carry_the_meaning_of_the_cue() -> None:
    assert to_watchos(pattern_for(CueKind.HOLD_START)) == "start"
    assert to_watchos(pattern_for(CueKind.HOLD_END)) == "stop"
    assert to_watchos(pattern_for(CueKind.ROUTINE_COMPLETE)) == "success"
    assert to_fitbit(pattern_for(CueKind.HOLD_WARNING)) == "ping"


def test_the_documented_name_lists_are_complete() -> None:
    assert len(WATCHOS_HAPTIC_TYPES) == 9
    assert {"ping", "nudge", "nudge-max", "confirmation"} <= FITBIT_VIBRATION_PATTERNS


# --- what the watch API embeds in each cue -------------------------------------------------------


@each_pattern
def test_all_platforms_gives_every_mapping_under_its_platform_key(pattern: HapticPattern) -> None:
    out = all_platforms(pattern)
    assert {p.value for p in Platform} <= out.keys()
    assert out[Platform.WEAR_OS.value] == to_wear_os(pattern)
    assert out[Platform.WEB.value] == to_web_vibration(pattern)
    assert out[Platform.GARMIN.value] == to_garmin(pattern)
    assert out[Platform.WATCHOS.value] == to_watchos(pattern)
    assert out[Platform.FITBIT.value] == to_fitbit(pattern)
    assert out["name"] == pattern.name.value
    assert out["duration_ms"] == pattern.duration_ms
    assert HapticPattern.from_dict(out["pattern"]) == pattern


@each_pattern
def test_all_platforms_is_plain_json(pattern: HapticPattern) -> None:
    out = all_platforms(pattern)
    assert json.loads(json.dumps(out)) == out


def test_patterns_cannot_be_changed_by_a_caller() -> None:
    pattern = pattern_for(CueKind.HOLD_START)
    with pytest.raises(AttributeError):
        pattern.segments = ()  # type: ignore[misc]
    all_platforms(pattern)["pattern"]["segments"].clear()
    assert pattern_for(CueKind.HOLD_START).segments
