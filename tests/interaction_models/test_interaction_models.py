"""The Alexa interaction models and skill manifest agree with the intents the code serves.

The JSON under ``interaction_models/skill-package`` is what the ASK CLI deploys; these tests
hold it to the names in ``skill.intents`` and to the Alexa rules we rely on (see
docs/INVOCATION.md for where each rule comes from).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
from ask_sdk_core.dispatch_components import AbstractRequestHandler
from flask import Flask

from sciatica_coach.demo.simulator import AlexaSimulator
from skill import speech
from skill.endpoint import ADAPTER
from skill.handlers.progress import ProgressHandler
from skill.handlers.routine import (
    NextHandler,
    PauseHandler,
    PreviousHandler,
    RepeatHandler,
    ResumeHandler,
    StartOverHandler,
    StartRoutineHandler,
    TimeLeftHandler,
)
from skill.handlers.session import (
    FallbackHandler,
    HelpHandler,
    SafetyHandler,
    StopHandler,
)
from skill.handlers.settings import (
    SIDE_IDS,
    SWITCH_IDS,
    HandsFreeHandler,
    SetFirstSideHandler,
    SetHoldLengthHandler,
    SetHoldsPerSideHandler,
    SettingsHandler,
    SetWarningBuzzHandler,
    WaitForNextHandler,
)
from skill.handlers.tuning import BuzzEarlyHandler, BuzzLateHandler, TuneWatchHandler
from skill.handlers.watch import PairWatchHandler, UnpairWatchHandler
from skill.handlers.welcome import NoHandler, YesHandler
from skill.intents import (
    FIRST_SIDE_SLOT,
    HOLD_MINUTES_SLOT,
    HOLD_SECONDS_SLOT,
    HOLDS_PER_SIDE_SLOT,
    PAIR_CODE_SLOT,
    WARNING_BUZZ_SLOT,
    Intent,
)
from tests.support.paths import REPO

PACKAGE = REPO / "interaction_models" / "skill-package"
MODELS = PACKAGE / "interactionModels" / "custom"
LOCALES = ("en-US", "en-GB", "en-CA", "en-AU", "en-IN")
COUNTRIES = {"US", "GB", "CA", "AU", "IN"}

REQUIRED_BUILT_INS = {
    "AMAZON.NextIntent",
    "AMAZON.PreviousIntent",
    "AMAZON.RepeatIntent",
    "AMAZON.PauseIntent",
    "AMAZON.ResumeIntent",
    "AMAZON.StartOverIntent",
    "AMAZON.HelpIntent",
    "AMAZON.StopIntent",
    "AMAZON.CancelIntent",
    "AMAZON.FallbackIntent",
    "AMAZON.NavigateHomeIntent",
}

#: The core phrase of each built-in intent: no other intent may claim it as a sample.
BUILT_IN_PHRASES = {
    "next": "AMAZON.NextIntent",
    "skip": "AMAZON.NextIntent",
    "previous": "AMAZON.PreviousIntent",
    "go back": "AMAZON.PreviousIntent",
    "repeat": "AMAZON.RepeatIntent",
    "say again": "AMAZON.RepeatIntent",
    "pause": "AMAZON.PauseIntent",
    "resume": "AMAZON.ResumeIntent",
    "continue": "AMAZON.ResumeIntent",
    "start over": "AMAZON.StartOverIntent",
    "restart": "AMAZON.StartOverIntent",
    "start again": "AMAZON.StartOverIntent",
    "help": "AMAZON.HelpIntent",
    "help me": "AMAZON.HelpIntent",
    "stop": "AMAZON.StopIntent",
    "off": "AMAZON.StopIntent",
    "shut up": "AMAZON.StopIntent",
    "cancel": "AMAZON.CancelIntent",
    "go home": "AMAZON.NavigateHomeIntent",
    "yes": "AMAZON.YesIntent",
    "no": "AMAZON.NoIntent",
}

#: Words an invocation name must not contain: wake words, "skill"/"app", launch and
#: connecting words (Alexa invocation name requirements).
FORBIDDEN_INVOCATION_WORDS = {
    "alexa", "amazon", "echo", "computer", "skill", "app",
    "ask", "tell", "open", "launch", "load", "begin", "start", "run", "play", "resume",
    "use", "enable", "to", "from", "by", "if", "and", "whether", "for", "with", "about",
}  # fmt: skip

LAUNCH_WORDS = ("open", "ask", "tell", "start", "launch", "begin", "run", "load", "talk to")
CONNECTING_WORDS = ("to", "for", "about", "if", "whether", "and", "that")

#: A sample is lower-case words, possessive/contracted apostrophes, "a." style
#: abbreviations and {slot} references; numbers are spelled out.
SAMPLE_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[a-z]\.|\{[A-Za-z_]+\}")
SLOT_REFERENCE = re.compile(r"\{([A-Za-z_]+)\}")

DISCLAIMER_FRAGMENTS = ("not medical advice", "no substitute", "sharp pain", "numbness", "weakness")


@cache
def load_model(locale: str) -> dict[str, Any]:
    return json.loads((MODELS / f"{locale}.json").read_text(encoding="utf-8"))


@cache
def load_manifest() -> dict[str, Any]:
    return json.loads((PACKAGE / "skill.json").read_text(encoding="utf-8"))["manifest"]


def language_model(locale: str) -> dict[str, Any]:
    return load_model(locale)["interactionModel"]["languageModel"]


def intents_by_name(locale: str) -> dict[str, dict[str, Any]]:
    return {intent["name"]: intent for intent in language_model(locale)["intents"]}


def normalised(sample: str) -> str:
    return " ".join(sample.lower().split())


def all_samples(locale: str) -> list[tuple[str, str]]:
    """Every (intent name, sample) pair of one locale."""
    return [
        (intent["name"], sample)
        for intent in language_model(locale)["intents"]
        for sample in intent.get("samples", [])
    ]


per_locale = pytest.mark.parametrize("locale", LOCALES)


# --- the interaction models ------------------------------------------------------------------


@per_locale
def test_every_locale_has_a_model_file(locale: str) -> None:
    assert (MODELS / f"{locale}.json").is_file()


def test_there_is_no_model_for_an_unlisted_locale() -> None:
    assert sorted(path.stem for path in MODELS.glob("*.json")) == sorted(LOCALES)


@per_locale
def test_model_has_the_ask_language_model_shape(locale: str) -> None:
    model = language_model(locale)

    assert isinstance(model["invocationName"], str)
    assert isinstance(model["intents"], list)
    assert isinstance(model["types"], list)
    for intent in model["intents"]:
        assert isinstance(intent["name"], str)
        assert isinstance(intent["samples"], list)
        assert all(isinstance(sample, str) for sample in intent["samples"])
        for slot in intent.get("slots", []):
            assert isinstance(slot["name"], str)
            assert isinstance(slot["type"], str)
    for slot_type in model["types"]:
        assert isinstance(slot_type["name"], str)
        assert slot_type["values"], f"custom slot type {slot_type['name']} has no values"
        for value in slot_type["values"]:
            assert isinstance(value["name"]["value"], str)


@per_locale
def test_invocation_name_meets_the_alexa_requirements(locale: str) -> None:
    name = language_model(locale)["invocationName"]
    words = name.split()

    assert name == name.lower()
    assert re.fullmatch(r"[a-z' .]+", name), "only letters, spaces, apostrophes and periods"
    assert len(words) >= 2, "one-word invocation names are for brands only"
    assert not FORBIDDEN_INVOCATION_WORDS & set(words)


def test_every_locale_uses_the_same_invocation_name() -> None:
    assert len({language_model(locale)["invocationName"] for locale in LOCALES}) == 1


@per_locale
def test_declared_intents_are_exactly_the_intents_the_code_serves(locale: str) -> None:
    names = [intent["name"] for intent in language_model(locale)["intents"]]

    assert len(names) == len(set(names)), "an intent is declared twice"
    assert set(names) == {intent.value for intent in Intent}


@per_locale
def test_required_built_in_intents_are_declared(locale: str) -> None:
    assert REQUIRED_BUILT_INS - set(intents_by_name(locale)) == set()


@per_locale
def test_every_custom_intent_has_varied_samples(locale: str) -> None:
    for name, intent in intents_by_name(locale).items():
        if not name.startswith("AMAZON."):
            assert len(set(map(normalised, intent["samples"]))) >= 8, name


@per_locale
def test_fallback_and_navigate_home_keep_amazons_own_samples(locale: str) -> None:
    intents = intents_by_name(locale)

    assert intents["AMAZON.FallbackIntent"]["samples"] == []
    assert intents["AMAZON.NavigateHomeIntent"]["samples"] == []


@per_locale
def test_samples_are_lower_case_words_without_punctuation(locale: str) -> None:
    for name, sample in all_samples(locale):
        tokens = sample.split()
        assert tokens, f"{name} has an empty sample"
        assert sample == " ".join(tokens), f"{name}: stray whitespace in {sample!r}"
        for token in tokens:
            assert SAMPLE_TOKEN.fullmatch(token), f"{name}: {token!r} in {sample!r}"


@per_locale
def test_no_sample_belongs_to_two_intents(locale: str) -> None:
    owners: dict[str, set[str]] = {}
    for name, sample in all_samples(locale):
        owners.setdefault(normalised(sample), set()).add(name)

    shared = {sample: names for sample, names in owners.items() if len(names) > 1}
    assert shared == {}


@per_locale
def test_no_intent_repeats_a_sample(locale: str) -> None:
    for name, intent in intents_by_name(locale).items():
        samples = [normalised(sample) for sample in intent["samples"]]
        assert len(samples) == len(set(samples)), name


@per_locale
def test_no_intent_claims_a_built_in_intents_own_phrase(locale: str) -> None:
    for name, sample in all_samples(locale):
        owner = BUILT_IN_PHRASES.get(normalised(sample))
        assert owner in (None, name), f"{name} claims {sample!r}, which {owner} answers"


@per_locale
def test_every_slot_type_is_built_in_or_declared(locale: str) -> None:
    model = language_model(locale)
    declared = {slot_type["name"] for slot_type in model["types"]}

    for intent in model["intents"]:
        for slot in intent.get("slots", []):
            assert slot["type"].startswith("AMAZON.") or slot["type"] in declared, slot


@per_locale
def test_every_declared_slot_type_is_used(locale: str) -> None:
    model = language_model(locale)
    used = {slot["type"] for intent in model["intents"] for slot in intent.get("slots", [])}

    assert {slot_type["name"] for slot_type in model["types"]} <= used


@per_locale
def test_samples_reference_only_slots_their_intent_declares(locale: str) -> None:
    for name, intent in intents_by_name(locale).items():
        declared = {slot["name"] for slot in intent.get("slots", [])}
        referenced = {ref for sample in intent["samples"] for ref in SLOT_REFERENCE.findall(sample)}
        assert referenced <= declared, f"{name} samples use undeclared slots"
        assert declared <= referenced, f"{name} declares slots no sample fills"


@per_locale
def test_pair_watch_fills_the_code_slot_with_a_number(locale: str) -> None:
    intent = intents_by_name(locale)[Intent.PAIR_WATCH]
    slots = {slot["name"]: slot["type"] for slot in intent["slots"]}

    assert slots == {PAIR_CODE_SLOT: "AMAZON.NUMBER"}
    assert f"pair code {{{PAIR_CODE_SLOT}}}" in intent["samples"]


#: The settings intents' slots, as the handlers read them: name -> type.
SETTINGS_SLOTS = {
    Intent.SET_HOLD_LENGTH: {
        HOLD_SECONDS_SLOT: "AMAZON.NUMBER",
        HOLD_MINUTES_SLOT: "AMAZON.NUMBER",
    },
    Intent.SET_HOLDS_PER_SIDE: {HOLDS_PER_SIDE_SLOT: "AMAZON.NUMBER"},
    Intent.SET_FIRST_SIDE: {FIRST_SIDE_SLOT: "SideType"},
    Intent.SET_WARNING_BUZZ: {WARNING_BUZZ_SLOT: "SwitchType"},
}
#: A custom slot type's value ids, as the handlers match them after entity resolution.
SLOT_TYPE_IDS = {"SideType": SIDE_IDS, "SwitchType": SWITCH_IDS}


@per_locale
def test_settings_intents_have_the_slots_their_handlers_read(locale: str) -> None:
    intents = intents_by_name(locale)
    for name, slots in SETTINGS_SLOTS.items():
        assert {s["name"]: s["type"] for s in intents[name].get("slots", [])} == slots, name


@per_locale
def test_custom_slot_values_carry_the_ids_the_handlers_match(locale: str) -> None:
    types = {t["name"]: t["values"] for t in language_model(locale)["types"]}

    assert set(types) == set(SLOT_TYPE_IDS)
    for name, ids in SLOT_TYPE_IDS.items():
        assert {value["id"] for value in types[name]} == ids, name
        assert {value["name"]["value"] for value in types[name]} == ids, name
        words = [
            word.lower()
            for value in types[name]
            for word in [value["name"]["value"], *value["name"].get("synonyms", [])]
        ]
        assert len(words) == len(set(words)), f"{name}: a synonym belongs to two values"


def slot_samples(locale: str) -> list[tuple[str, str, str]]:
    """Every (intent, slot, sample) of the utterances that answer a slot being asked for."""
    return [
        (intent["name"], slot["name"], sample)
        for intent in language_model(locale)["intents"]
        for slot in intent.get("slots", [])
        for sample in slot.get("samples", [])
    ]


@per_locale
def test_slot_samples_are_lower_case_and_fill_only_their_own_slot(locale: str) -> None:
    for intent, slot, sample in slot_samples(locale):
        assert sample == " ".join(sample.split()), f"{intent}.{slot}: {sample!r}"
        for token in sample.split():
            assert SAMPLE_TOKEN.fullmatch(token), f"{intent}.{slot}: {token!r} in {sample!r}"
        assert SLOT_REFERENCE.findall(sample) == [slot], f"{intent}.{slot}: {sample!r}"


@per_locale
def test_every_slot_the_skill_asks_for_again_is_in_the_dialog_model(locale: str) -> None:
    # Dialog.ElicitSlot needs the intent in the dialog model; the skill answers every turn
    # itself (SKILL_RESPONSE), so Alexa never prompts with words of its own.
    dialog = load_model(locale)["interactionModel"]["dialog"]
    declared = intents_by_name(locale)

    assert dialog["delegationStrategy"] == "SKILL_RESPONSE"
    by_name = {intent["name"]: intent for intent in dialog["intents"]}
    assert set(by_name) == set(SETTINGS_SLOTS)
    for name, intent in by_name.items():
        assert intent["confirmationRequired"] is False
        assert intent["prompts"] == {}
        model_slots = {s["name"]: s["type"] for s in declared[name]["slots"]}
        assert {s["name"]: s["type"] for s in intent["slots"]} == model_slots, name
        for slot in intent["slots"]:
            assert slot["elicitationRequired"] is False
            assert slot["confirmationRequired"] is False
            assert slot["prompts"] == {}
    assert "prompts" not in load_model(locale)["interactionModel"], "no words outside speech.py"
    for handler in (
        SetHoldLengthHandler,
        SetHoldsPerSideHandler,
        SetFirstSideHandler,
        SetWarningBuzzHandler,
    ):
        asked = {slot["name"] for slot in by_name[handler.intent]["slots"]}
        assert handler.slot in asked, handler
        samples = [
            s for i, slot, s in slot_samples(locale) if (i, slot) == (handler.intent, handler.slot)
        ]
        assert samples, f"{handler.intent}.{handler.slot} has no answers to being asked for"


@per_locale
def test_start_routine_answers_the_routine_trigger_phrase(locale: str) -> None:
    samples = intents_by_name(locale)[Intent.START_ROUTINE]["samples"]

    assert "start my sciatica routine" in samples


# --- the skill manifest ----------------------------------------------------------------------


def test_manifest_publishes_every_locale_and_only_those() -> None:
    publishing = load_manifest()["publishingInformation"]

    assert load_manifest()["manifestVersion"] == "1.0"
    assert set(publishing["locales"]) == set(LOCALES)
    assert publishing["isAvailableWorldwide"] is False
    assert set(publishing["distributionCountries"]) == COUNTRIES
    assert publishing["category"] in {"HEALTH_AND_FITNESS", "EXERCISE_AND_WORKOUT"}


@per_locale
def test_store_listing_names_the_skill_and_carries_the_disclaimer(locale: str) -> None:
    listing = load_manifest()["publishingInformation"]["locales"][locale]

    assert listing["name"] == "Sciatica Coach"
    assert listing["summary"]
    for fragment in DISCLAIMER_FRAGMENTS:
        assert fragment in listing["description"].lower(), fragment


@per_locale
def test_example_phrases_launch_the_skill_with_its_own_samples(locale: str) -> None:
    phrases = load_manifest()["publishingInformation"]["locales"][locale]["examplePhrases"]
    invocation = language_model(locale)["invocationName"]
    samples = {normalised(sample) for _, sample in all_samples(locale)}

    assert 1 <= len(phrases) <= 3
    for phrase in phrases:
        assert phrase.startswith("Alexa, "), phrase
        words = phrase.removeprefix("Alexa, ").lower()
        launch = next((w for w in LAUNCH_WORDS if words.startswith(f"{w} {invocation}")), None)
        assert launch, f"{phrase!r} does not say a launch word and then {invocation!r}"
        request = words.removeprefix(f"{launch} {invocation}").strip()
        for connector in CONNECTING_WORDS:
            request = request.removeprefix(f"{connector} ")
        assert request == "" or request in samples, f"{request!r} is no sample utterance"


def test_privacy_and_compliance_is_declared() -> None:
    privacy = load_manifest()["privacyAndCompliance"]

    assert privacy["allowsPurchases"] is False
    assert privacy["containsAds"] is False
    assert privacy["isExportCompliant"] is True
    assert privacy["isChildDirected"] is False
    assert privacy["usesPersonalInfo"] is False
    assert privacy["usesHealthInfo"] is False
    for locale in LOCALES:
        assert privacy["locales"][locale]["privacyPolicyUrl"].startswith("https://")


def test_skill_is_told_when_a_user_disables_it() -> None:
    manifest = load_manifest()
    events = manifest["events"]
    endpoint = manifest["apis"]["custom"]["endpoint"]

    assert {"eventName": "SKILL_DISABLED"} in events["subscriptions"]
    assert events["endpoint"]["uri"] == endpoint["uri"]
    assert endpoint["uri"].startswith("https://")
    assert endpoint["sslCertificateType"] in {"Trusted", "Wildcard", "SelfSigned"}


# --- the handlers ----------------------------------------------------------------------------

#: Which handler must answer each intent: written out here, not read from the code, so a
#: handler whose can_handle drifts to another intent (or to none) is caught.
EXPECTED_HANDLER: dict[str, type[AbstractRequestHandler]] = {
    "StartRoutineIntent": StartRoutineHandler,
    "TimeLeftIntent": TimeLeftHandler,
    "SafetyIntent": SafetyHandler,
    "PairWatchIntent": PairWatchHandler,
    "UnpairWatchIntent": UnpairWatchHandler,
    "BuzzEarlyIntent": BuzzEarlyHandler,
    "BuzzLateIntent": BuzzLateHandler,
    "TuneWatchIntent": TuneWatchHandler,
    "ProgressIntent": ProgressHandler,
    "SetHoldLengthIntent": SetHoldLengthHandler,
    "SetHoldsPerSideIntent": SetHoldsPerSideHandler,
    "SetFirstSideIntent": SetFirstSideHandler,
    "SetWarningBuzzIntent": SetWarningBuzzHandler,
    "HandsFreeIntent": HandsFreeHandler,
    "WaitForNextIntent": WaitForNextHandler,
    "SettingsIntent": SettingsHandler,
    "AMAZON.NextIntent": NextHandler,
    "AMAZON.PreviousIntent": PreviousHandler,
    "AMAZON.RepeatIntent": RepeatHandler,
    "AMAZON.PauseIntent": PauseHandler,
    "AMAZON.ResumeIntent": ResumeHandler,
    "AMAZON.StartOverIntent": StartOverHandler,
    "AMAZON.HelpIntent": HelpHandler,
    "AMAZON.StopIntent": StopHandler,
    "AMAZON.CancelIntent": StopHandler,
    "AMAZON.NavigateHomeIntent": StopHandler,
    "AMAZON.FallbackIntent": FallbackHandler,
    "AMAZON.YesIntent": YesHandler,
    "AMAZON.NoIntent": NoHandler,
}


@pytest.fixture
def answered_by(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """The class of each handler the skill's dispatcher picks, in order, as requests arrive."""
    picked: list[type] = []
    skill = app.extensions[ADAPTER]._skill
    for mapper in skill.request_dispatcher.request_mappers:
        for chain in mapper.request_handler_chains:
            handler = chain.request_handler

            def recording(handler_input: Any, handler: Any = handler) -> Any:
                picked.append(type(handler))
                return type(handler).handle(handler, handler_input)

            monkeypatch.setattr(handler, "handle", recording)
    return picked


def test_every_intent_of_the_models_has_an_expected_handler() -> None:
    declared = {name for locale in LOCALES for name in intents_by_name(locale)}

    assert declared == set(EXPECTED_HANDLER)


@per_locale
def test_every_intent_in_the_model_reaches_its_own_handler(
    locale: str, speaker: AlexaSimulator, answered_by: list[type]
) -> None:
    for name, intent in intents_by_name(locale).items():
        envelope = speaker._envelope("intent")
        envelope["request"]["locale"] = locale
        envelope["request"]["intent"] = {
            "name": name,
            "confirmationStatus": "NONE",
            "slots": {
                slot["name"]: {"name": slot["name"], "confirmationStatus": "NONE"}
                for slot in intent.get("slots", [])
            },
        }
        answered_by.clear()

        turn = speaker.send(envelope)

        assert turn.status == 200, (name, turn.body)
        assert answered_by[:1] == [EXPECTED_HANDLER[name]], name


# --- the words that name the skill -----------------------------------------------------------


@per_locale
def test_the_spoken_resume_phrase_works_in_every_locale(locale: str) -> None:
    # A paused user is told to say it once the session has ended, so it must be a real
    # one-shot: launch word, invocation name, connecting word, a ResumeIntent sample.
    samples = intents_by_name(locale)[Intent.RESUME]["samples"]

    assert language_model(locale)["invocationName"] == speech.INVOCATION_NAME
    assert speech.RESUME_UTTERANCE in samples
    assert (
        f"Alexa, tell {speech.INVOCATION_NAME} to {speech.RESUME_UTTERANCE}"
    ) == speech.RESUME_PHRASE
