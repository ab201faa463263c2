"""Pairing a watch by a spoken code, and unpairing it."""

from __future__ import annotations

import pytest
from flask import Flask

from sciatica_coach.app import services_of
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.pairing.service import PairingError, PairingFailure


class TestWatchPairing:
    def test_pairing_by_spoken_code_binds_the_watch_to_this_user(
        self, app: Flask, speaker: AlexaSimulator
    ) -> None:
        pairing = services_of(app).pairing
        started = pairing.start()
        turn = speaker.says("PairWatchIntent", code=started.user_code)
        assert "watch is paired" in turn.ssml
        token = pairing.exchange(started.device_code)
        assert pairing.authenticate(token.access_token) == speaker.user_id

    def test_a_wrong_code_is_refused_with_a_way_forward(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("PairWatchIntent", code="111111")
        assert "didn't match" in turn.ssml
        assert turn.reprompt

    def test_too_many_wrong_codes_from_one_user_pause_their_pairing(
        self, app: Flask, speaker: AlexaSimulator
    ) -> None:
        pairing = services_of(app).pairing
        started = pairing.start()
        wrong = "111111" if started.user_code != "111111" else "222222"
        answers = [speaker.says("PairWatchIntent", code=wrong) for _ in range(6)]
        refused = [turn for turn in answers if "wrong codes" in turn.ssml]
        assert refused, [turn.ssml for turn in answers]
        assert all(turn.ends_session for turn in refused)
        # Even the right code waits now: checking it would spend the guessing budget.
        assert "wrong codes" in speaker.says("PairWatchIntent", code=started.user_code).ssml

    def test_a_spent_global_budget_is_not_blamed_on_the_user(
        self, app: Flask, speaker: AlexaSimulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def busy(user_id: str, code: str | None) -> None:
            raise PairingError(PairingFailure.RATE_LIMITED, everyone=True)

        monkeypatch.setattr(services_of(app).pairing, "bind", busy)
        turn = speaker.says("PairWatchIntent", code="482913")
        assert "busy" in turn.ssml
        assert "wrong" not in turn.ssml
        assert turn.ends_session

    def test_a_missing_code_asks_for_it(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("PairWatchIntent")
        assert "six digits" in turn.ssml
        assert turn.reprompt

    def test_unpair_revokes_the_watch(self, app: Flask, speaker: AlexaSimulator) -> None:
        pairing = services_of(app).pairing
        started = pairing.start()
        speaker.says("PairWatchIntent", code=started.user_code)
        token = pairing.exchange(started.device_code)
        assert "unpaired" in speaker.says("UnpairWatchIntent").ssml
        assert pairing.authenticate(token.access_token) is None
        assert "no watch" in speaker.says("UnpairWatchIntent").ssml
