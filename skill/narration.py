"""Turns a routine event into the words for it, timed so the core's hold starts as they end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from shared.routine.coach import Coach, Outcome
from shared.routine.engine import Announcement, Event, RunView, Said
from shared.timing import SpeechTiming
from shared.timing.voices import Voices

from . import speech
from .hands_free import Reply, hands_free_reply

#: Words said before an announced step: fixed, or chosen from the announcement.
Intro = str | Callable[[Announcement], str]


@dataclass(frozen=True, slots=True)
class Narration:
    """The core's outcome plus the speech it was timed against (None: nothing announced).

    `words` is the announced step's; hands-free, `reply` is the whole reply it begins, the
    steps after it included (and the reprompt that carries the routine on).
    """

    outcome: Outcome
    words: speech.StepSpeech | None
    reply: Reply | None = None

    @property
    def view(self) -> RunView:
        return self.outcome.view


class Narrator:
    """Applies events through the Coach with the lead-in of the exact words that will be spoken.

    Every time comes from the timing of the user's own voice (their profile and nudges, else
    the deployment's), and the hold's silence is written for that voice too.
    """

    def __init__(self, coach: Coach, voices: Voices | None = None) -> None:
        self.coach = coach
        self.voices = voices or Voices(coach.store, coach.engine.timing)

    def words_for(
        self,
        announcement: Announcement,
        timing: SpeechTiming,
        intro: Intro = "",
        prompt: str | None = None,
    ) -> speech.StepSpeech:
        resumed = announcement.resumed_hold_s is not None
        return speech.step_speech(
            announcement.routine or self.coach.routine,
            announcement.step_index,
            intro=intro(announcement) if callable(intro) else intro,
            hold_seconds=announcement.resumed_hold_s,
            resumed=resumed,
            break_for_silence=timing.break_for_silence,
            hands_free=announcement.hands_free,
            prompt=prompt,
        )

    def reply_for(
        self, announcement: Announcement, timing: SpeechTiming, intro: Intro = ""
    ) -> Reply | None:
        """Hands-free, the whole reply an announcement begins; None when it waits for next."""
        if not announcement.hands_free:
            return None
        words = self.words_for(announcement, timing, intro)
        routine = announcement.routine or self.coach.routine
        return hands_free_reply(routine, words, announcement.step_index, timing)

    def apply(
        self, user_id: str, event: Event, intro: Intro = "", prompt: str | None = None
    ) -> Narration:
        """Apply `event`; an announced step's hold starts when its lead-in is estimated to end.

        `intro` is said before the step; a function of the announcement when what to say
        depends on what the engine decided (e.g. that there was no earlier step). `prompt`
        replaces "say next" at the end of a step that waits for next.
        """
        timing = self.voices.timing_for(user_id)

        def lead_in(announcement: Announcement) -> float | tuple[Said, ...]:
            reply = self.reply_for(announcement, timing, intro)
            if reply is not None:
                return reply.said
            return timing.estimate(self.words_for(announcement, timing, intro).lead_in)

        outcome = self.coach.apply(user_id, event, lead_in)
        announcement = outcome.transition.announcement
        if announcement is None:
            return Narration(outcome, None)
        words = self.words_for(announcement, timing, intro, prompt)
        return Narration(outcome, words, self.reply_for(announcement, timing, intro))

    def carry_on(self, user_id: str, said: str) -> Narration:
        """`said`, and then the run carried on from where the person's words cut it off.

        Asking a question mid-hold cuts the speaker off, silence and all: the answer carries
        the rest of the hold and its spoken end (hands-free, the steps after it too); with
        nothing to carry on, the narration announces nothing and the caller says `said`.
        """
        timing = self.voices.timing_for(user_id)

        def words(announcement: Announcement) -> speech.StepSpeech:
            if announcement.carried_hold_s is None:
                return self.words_for(announcement, timing, said)
            return self._rest_of_hold(announcement, timing, said)

        def lead_in(announcement: Announcement) -> float | tuple[Said, ...]:
            if announcement.hands_free:
                routine = announcement.routine or self.coach.routine
                first = words(announcement)
                return hands_free_reply(routine, first, announcement.step_index, timing).said
            return timing.estimate(words(announcement).lead_in)

        outcome = self.coach.apply(user_id, Event.CARRY_ON, lead_in)
        announcement = outcome.transition.announcement
        if announcement is None:
            return Narration(outcome, None)
        first = words(announcement)
        reply = None
        if announcement.hands_free:
            routine = announcement.routine or self.coach.routine
            reply = hands_free_reply(routine, first, announcement.step_index, timing)
        return Narration(outcome, first, reply)

    def _rest_of_hold(
        self, announcement: Announcement, timing: SpeechTiming, said: str
    ) -> speech.StepSpeech:
        """`said`, then silence to the hold's end as it stands, then what ends the hold."""
        assert announcement.carried_hold_s is not None
        routine = announcement.routine or self.coach.routine
        spoken = timing.estimate(speech.wrap(said))
        silence = timing.break_for_silence(max(0.0, announcement.carried_hold_s - spoken), said)
        whole = speech.step_speech(
            routine,
            announcement.step_index,
            break_for_silence=timing.break_for_silence,
            hands_free=announcement.hands_free,
        )
        return replace(whole, lead_in=said, hold=speech.silence_ssml(silence))
