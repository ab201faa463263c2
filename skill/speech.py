"""Every sentence the skill speaks, in one place: handlers pick a key, this module says it.

Text is plain with {placeholders}; values are escaped before they enter SSML, and the
routine's own step text is already checked to be SSML-safe when the routine loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from shared.routine.definition import Routine
from shared.routine.progress import Progress
from shared.timing import silence_ssml
from shared.timing.ssml import PIECE_BREAK

# Between the pieces of what is said before a hold (safety note, heading, instruction, the
# hold's length, the cue to start) goes PIECE_BREAK, a short written break: each piece is
# then a stretch of speech a voice profile has measured once, exactly, instead of one long
# stretch guessed.

#: The skill's invocation name and a ResumeIntent sample, as every locale's model has them
#: (tests/interaction_models holds the models to these), for the line that tells a paused
#: user how to come back once the session has ended.
INVOCATION_NAME = "sciatica coach"
RESUME_UTTERANCE = "resume the routine"
RESUME_PHRASE = f"Alexa, tell {INVOCATION_NAME} to {RESUME_UTTERANCE}"

PHRASES: dict[str, str] = {
    "welcome_new": "Welcome to Sciatica Coach. I'll talk you through a short routine: "
    "first we loosen the muscle knots with a ball, then we stretch, both sides.",
    "offer_start": "Would you like to start your sciatica routine?",
    "welcome_back_mid_run": "Welcome back. You stopped at step {number} of {count}, {title}. "
    "Would you like to carry on from there?",
    "welcome_back": "Welcome back to Sciatica Coach.",
    "continue_or_restart": "Say continue to pick up at step {number}, or start over "
    "to begin again.",
    "step_heading": "Step {number} of {count}: {title}.",
    "first_step_again": "That was the first step, so here it is again.",
    "hold_start": "Hold for {seconds} seconds.",
    # No number before a resumed hold: a fixed text is timed exactly, a number only priced
    # (the watch shows what is left, and "how long is left?" says it).
    "hold_resume": "Picking up your hold where you left it.",
    "start_cue": "Starting now.",
    "time_up_switch": "Time's up. Switch sides.",
    "time_up": "Time's up. Nicely done.",
    # Hands-free: the voice goes on by itself, so it says where to go instead of "say next".
    "time_up_other_side": "Time's up. Over to your {side} side.",
    "time_up_once_more": "Time's up. Rest a moment, then once more.",
    "hold_again": "Hold {repeat} of {repeats}, just like the last one.",
    "rest_prompt": "Say next when you're ready for the rest of the routine.",
    # Asked once, at the end of a step, until answered.
    "flow_question": "One question: from now on, shall I move on to each step by myself? "
    "Say yes, or say next whenever you'd like to lead the way.",
    "flow_reprompt": "Shall I move on by myself after each step? Yes, or no?",
    "flow_hands_free": "Okay, I'll keep us moving. Say pause whenever you need a break.",
    "flow_on_next": "Okay, I'll wait for you each time.",
    "next_prompt": "Say next when you're ready.",
    "next_reprompt": "Whenever you're ready, say next. Or say repeat to hear that step again.",
    "routine_done": "You've finished the whole routine. See you next time.",
    "already_done": "You've already finished today's routine. Say start over to do it again.",
    "not_started": "We haven't started yet. Say start my routine to begin.",
    "already_running": "Your routine is already under way, at step {number}, {title}.",
    "paused": f"Paused, and your place is kept. When you're ready, say: {RESUME_PHRASE}.",
    "paused_reprompt": "Say resume to carry on, or stop to finish for now.",
    "stopped_reprompt": "Say resume to pick up where you stopped, or start over to begin again.",
    "not_paused": "We're not paused, so let's keep going.",
    "stopped": "Okay, stopping here. I'll remember your place for next time.",
    "goodbye": "Goodbye, and take care of that back.",
    "time_left_holding": "{remaining} left on this hold.",
    "time_left_announcing": "The {seconds} second hold starts once you're in position.",
    "time_left_awaiting": "This step is done. Say next for the next one.",
    "time_left_paused": "You're paused with {remaining} left on this hold.",
    "time_left_paused_before_hold": "You're paused before the hold starts.",
    "time_left_idle": "You haven't started a routine. The whole thing takes about {total}.",
    "time_left_stopped": "You stopped at step {number} of {count}.",
    "time_left_routine": "About {total} to go in the whole routine.",
    "time_left_completed": "Nothing left: you've finished the routine.",
    "help": "I guide you through a sciatica routine, step by step. You can say next, "
    "previous, repeat, pause, resume, start over, or how much time is left. "
    "To link your watch, say pair code and the six digits on the watch. If a buzz and "
    "my voice don't meet, say tune my watch, or tell me the buzz was early, or late. "
    "To hear or change your own settings, say what are my settings.",
    "help_reprompt": "What would you like to do?",
    "fallback": "Sorry, I didn't catch that. You can say next, repeat, pause, or help.",
    "fallback_reprompt": "Say help to hear what you can say.",
    "pair_ok": "Your watch is paired. It will buzz at the start and end of every hold.",
    "pair_bad_code": "That code didn't match a watch waiting to pair. Check the six digits "
    "on your watch and say pair code, then the digits.",
    "pair_missing_code": "I need the six digits shown on your watch. Say pair code, "
    "then the digits.",
    "pair_too_many": "That's a few wrong codes in a row, so pairing is on hold for your "
    "account. Please try again in about ten minutes.",
    "pair_busy": "Pairing is busy just now. Please try again in a few minutes.",
    "unpair_ok": "Done. Your watch is unpaired and won't get any more cues.",
    "unpair_none": "There was no watch paired with your account.",
    "tune_intro": "Let's measure how this speaker talks, so the buzzes meet my words. "
    "Please stay quiet while I read some lines from the routine.",
    "tune_done": "That's the last line. Thank you.",
    "tune_open_face": "To tune the buzz to this speaker, open your watch face, tap Tune, and "
    "let it use the microphone. Then ask me again to tune your watch.",
    "tune_first_part": "Say next when you're ready for the first part.",
    "tune_all_read": "I've read every part. Your watch will show how the tuning went.",
    "tune_part_end": "That's part {number} of {count}. Say next when you're ready for the rest.",
    "tune_part_reprompt": "Say next to hear the next part of the tuning, or stop to leave it.",
    "tune_check_watch": "Your watch will show how the tuning went.",
    "nudge_later": "Okay, from your next hold on, your watch will buzz a little later.",
    "nudge_earlier": "Okay, from your next hold on, your watch will buzz a little earlier.",
    "nudge_at_limit": "That's as far as I can move the buzz, so I've left it there. "
    "Your speaker may need measuring with the voice calibration.",
    # A person's own settings. Each change is said back in full, and mid-run it says when
    # it takes effect: a step already being said keeps what it had.
    "hold_set": "Okay, your holds are now {seconds} seconds.",
    "hold_set_later": "Okay, your holds are now {seconds} seconds, from the next step on.",
    "hold_set_next_time": "Okay, from your next routine on, your holds will be {seconds} seconds.",
    "hold_missing": "How long would you like your holds? I can make them anything from "
    "{low} to {high} seconds.",
    "hold_out_of_range": "I can set holds from {low} to {high} seconds. "
    "How long would you like them?",
    "hold_not_understood": "Sorry, I didn't catch how long. How long would you like your "
    "holds, from {low} to {high} seconds?",
    "hold_reprompt": "How long would you like your holds, from {low} to {high} seconds?",
    "hold_range": "I can set holds from {low} to {high} seconds, so yours stay as they were.",
    "hold_hint": "To change them, say for example: make my holds 45 seconds.",
    "holds_per_side_set": "Okay, {holds} on each side from now on.",
    "holds_per_side_set_later": "Okay, {holds} on each side, from the next step on.",
    "holds_per_side_set_next_time": "Okay, {holds} on each side, from your next routine on.",
    "holds_per_side_missing": "How many holds would you like on each side, from {low} to {high}?",
    "holds_per_side_out_of_range": "I can do from {low} to {high} holds on each side. "
    "How many would you like?",
    "holds_per_side_not_understood": "Sorry, I didn't catch how many. How many holds would "
    "you like on each side, from {low} to {high}?",
    "holds_per_side_reprompt": "How many holds would you like on each side, from {low} to {high}?",
    "holds_per_side_range": "I can do from {low} to {high} holds on each side, so yours "
    "stay as they were.",
    "holds_per_side_hint": "To change them, say for example: do two holds on each side.",
    "first_side_set": "Okay, we'll begin each exercise on your {side} side.",
    "first_side_set_later": "Okay, from the next exercise on, we'll begin on your {side} side.",
    "first_side_set_next_time": "Okay, from your next routine on, we'll begin on your {side} side.",
    "first_side_missing": "Which side would you like to begin with, left or right?",
    "first_side_not_understood": "Sorry, I didn't catch which side. Would you like to "
    "begin with your left side, or your right?",
    "first_side_reprompt": "Which side should go first, left or right?",
    "first_side_hint": "To choose, say for example: start with my right side.",
    "warning_buzz_on": "Okay, the warning buzz is on: your watch will buzz {seconds} "
    "seconds before each hold ends.",
    "warning_buzz_off": "Okay, the warning buzz is off. Your watch still buzzes as each "
    "hold starts and ends.",
    "warning_buzz_missing": "Would you like the warning buzz on or off? It comes {seconds} "
    "seconds before each hold ends.",
    "warning_buzz_not_understood": "Sorry, I didn't catch that. Should the warning buzz be "
    "on or off?",
    "warning_buzz_reprompt": "Should the warning buzz be on or off?",
    "warning_buzz_hint": "To change it, say turn off the warning buzz, or turn it on.",
    "hands_free_set": "Okay, from now on I'll carry on by myself from one step to the next. "
    "Say pause whenever you need a break.",
    "wait_for_next_set": "Okay, from now on I'll wait for you to say next after each step.",
    "not_understood": "Sorry, I didn't catch that.",
    "settings_summary": "Your holds are {hold}, {holds} on each side, beginning on your "
    "{side} side. The warning buzz is {buzz}, and {flow}.",
    "settings_hold_per_step": "as long as each step sets them",
    "settings_hold_seconds": "{seconds} seconds",
    "settings_flow_hands_free": "I carry on by myself from step to step",
    "settings_flow_on_next": "I wait for you to say next after each step",
    "settings_hint": "To change one, say for example: make my holds 45 seconds.",
    "safety_reprompt": "Would you like to start the routine?",
    "welcome_back_streak": "Welcome back. You're on a {days}-day streak, and one more today "
    "keeps it going.",
    "welcome_back_streak_done": "Welcome back. That's a {days}-day streak, today included.",
    "progress_none": "You haven't finished a routine with me yet, so there's nothing to "
    "count so far.",
    "progress_week_none": "You haven't done the routine yet this week",
    "progress_week_once": "You've done the routine once this week",
    "progress_week_twice": "You've done the routine twice this week",
    "progress_week_many": "You've done the routine {count} times this week",
    "progress_week_only": "{week}.",
    "progress_and_streak": "{week}, and you're on a {days}-day streak.",
    "progress_but_streak": "{week}, but you're on a {days}-day streak.",
    "progress_last": "Your last one was {when}.",
    "when_today_early": "early this morning",
    "when_today_morning": "this morning",
    "when_today_afternoon": "this afternoon",
    "when_today_evening": "this evening",
    "when_today_night": "earlier tonight",
    "when_yesterday_early": "early yesterday morning",
    "when_yesterday_morning": "yesterday morning",
    "when_yesterday_afternoon": "yesterday afternoon",
    "when_yesterday_evening": "yesterday evening",
    "when_yesterday_night": "last night",
    "when_weekday_early": "early on {weekday} morning",
    "when_weekday_morning": "on {weekday} morning",
    "when_weekday_afternoon": "on {weekday} afternoon",
    "when_weekday_evening": "on {weekday} evening",
    "when_weekday_night": "on {weekday} night",
    "when_days_ago": "{days} days ago",
    "when_weeks_ago": "about {weeks} weeks ago",
    "when_months_ago": "about {months} months ago",
    "when_over_a_year": "over a year ago",
    "error": "Sorry, something went wrong on my side. Please try that again.",
    "busy": "Sorry, I couldn't save that just now. Please say it again.",
}


#: Day names as spoken; not the C library's, which follow the machine's locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The parts of a day a time is said in, each until the hour given (local time).
PARTS_OF_DAY = ((5, "early"), (12, "morning"), (17, "afternoon"), (21, "evening"), (24, "night"))


def say(key: str, **data: object) -> str:
    """The text for `key`, with every value escaped so it cannot break the SSML."""
    return PHRASES[key].format(**{k: escape(str(v)) for k, v in data.items()})


def wrap(*parts: str) -> str:
    """Join SSML fragments into one <speak> document."""
    return "<speak>" + " ".join(p for p in parts if p) + "</speak>"


#: The silence before the words that close a part of the tuning: longer than any pause
#: inside a part, so the watch hears them apart from the script (and leaves them out).
TUNING_CLOSE_BREAK_S = 2.5


def tuning_part(body: str, number: int, count: int) -> str:
    """One part of the calibration script as the speaker reads it, with its closing words."""
    close = (
        say("tune_check_watch")
        if number == count
        else say("tune_part_end", number=number, count=count)
    )
    return wrap(body + silence_ssml(TUNING_CLOSE_BREAK_S) + close)


def count_words(count: int, noun: str) -> str:
    """'1 hold', '2 holds': a count with its noun, singular for one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def settings_summary(
    *, hold_seconds: float | None, holds_per_side: int, side: str, buzz: bool, hands_free: bool
) -> str:
    """A person's settings read back in one breath, then how to change one.

    `hold_seconds` None: the routine's holds differ from step to step (said as such).
    """
    if hold_seconds is None:
        hold = say("settings_hold_per_step")
    else:
        hold = say("settings_hold_seconds", seconds=f"{hold_seconds:g}")
    flow = say("settings_flow_hands_free" if hands_free else "settings_flow_on_next")
    summary = say(
        "settings_summary",
        hold=hold,
        holds=count_words(holds_per_side, "hold"),
        side=side,
        buzz="on" if buzz else "off",
        flow=flow,
    )
    return f"{summary} {say('settings_hint')}"


def duration_words(seconds: float) -> str:
    """'1 minute 5 seconds' style wording; whole seconds, rounded up so '0 seconds' never lies."""
    whole = int(-(-seconds // 1))
    minutes, secs = divmod(whole, 60)
    parts = []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    if secs or not minutes:
        parts.append(f"{secs} second{'s' if secs != 1 else ''}")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class StepSpeech:
    """A step's speech split where the hold begins, so its start can be timed exactly.

    `settle` is the quiet after it, hands-free, for getting into the next step's position.
    """

    lead_in: str
    hold: str
    after: str
    ends_session: bool
    settle: str = ""

    @property
    def ssml(self) -> str:
        return wrap(self.lead_in, self.hold, self.after, self.settle)


def _same_length(seconds: float, after: str = "") -> float:
    return seconds


def step_speech(
    routine: Routine,
    index: int,
    *,
    intro: str = "",
    hold_seconds: float | None = None,
    resumed: bool = False,
    break_for_silence: Callable[[float, str], float] = _same_length,
    hands_free: bool = False,
    prompt: str | None = None,
) -> StepSpeech:
    """The words for step `index`: heading, instruction, the hold as silence, the spoken end.

    `hold_seconds` overrides the hold length (a resumed hold speaks only what is left).
    A hold's last piece is the same short cue every time, so the moment it ends (the hold's
    start) follows from a measured text. `break_for_silence` writes the hold's silence for
    the voice that says it: a voice that draws out a break gets a shorter one, so "Time's
    up" starts as the hold ends. `hands_free` ends the step with where to go next and a
    quiet to get there (the next step's settle time), instead of "say next". `prompt`
    replaces "say next" at the end of a step that waits for it (a question asked once).
    """
    step = routine.step(index)
    heading = say("step_heading", number=index + 1, count=len(routine), title=step.title)
    lead = [intro] if intro else []
    if resumed and step.hold is not None:
        lead += [say("hold_resume"), say("start_cue")]
    elif step.repeat > 1:  # the instruction was just heard: a short line will do
        lead += [heading, say("hold_again", repeat=step.repeat, repeats=step.repeats)]
    else:
        lead += [heading, step.say]
    last = index >= routine.last_index
    if step.hold is not None:
        seconds = step.hold.seconds if hold_seconds is None else hold_seconds
        if not resumed:
            lead += [say("hold_start", seconds=f"{seconds:g}"), say("start_cue")]
        hold = silence_ssml(break_for_silence(seconds, lead[-1]))
        ending = time_up(routine, index, hands_free=hands_free)
    else:
        hold, ending = "", ""
    if last:
        after = " ".join(p for p in (ending, say("routine_done")) if p)
        return StepSpeech(PIECE_BREAK.join(lead), hold, after, ends_session=True)
    if not hands_free:
        after = " ".join(p for p in (ending, prompt or say("next_prompt")) if p)
        return StepSpeech(PIECE_BREAK.join(lead), hold, after, ends_session=False)
    settle = routine.step(index + 1).settle_seconds
    said_last = ending or lead[-1]
    quiet = silence_ssml(break_for_silence(settle, said_last)) if settle > 0 else ""
    return StepSpeech(PIECE_BREAK.join(lead), hold, ending, ends_session=False, settle=quiet)


def time_up(routine: Routine, index: int, *, hands_free: bool = False) -> str:
    """What is said as step `index`'s hold ends: its first sound is the hold-end buzz.

    Hands-free, it also says where to go, since nobody will say next.
    """
    if not hands_free:
        return say("time_up_switch") if _switches_side(routine, index) else say("time_up")
    if index < routine.last_index:
        there = routine.step(index + 1)
        if _switches_side(routine, index) and there.side is not None:
            return say("time_up_other_side", side=there.side.value)
        if there.exercise == routine.step(index).exercise and there.repeat > 1:
            return say("time_up_once_more")
    return say("time_up")


def _switches_side(routine: Routine, index: int) -> bool:
    """True when the next step is the same exercise on the other side."""
    if index >= routine.last_index:
        return False
    here, there = routine.step(index), routine.step(index + 1)
    return here.exercise == there.exercise and here.side != there.side


def part_of_day(hour: int) -> str:
    """Which part of the day an hour (0-23) falls in: early, morning, ... night."""
    return next(part for until, part in PARTS_OF_DAY if hour < until)


def when_words(at: datetime, days_ago: int) -> str:
    """When a past moment was, as a person says it: 'yesterday evening', '12 days ago'."""
    part = part_of_day(at.hour)
    if days_ago <= 0:
        return say(f"when_today_{part}")
    if days_ago == 1:
        return say(f"when_yesterday_{part}")
    if days_ago < 7:
        return say(f"when_weekday_{part}", weekday=WEEKDAYS[at.weekday()])
    if days_ago < 14:
        return say("when_days_ago", days=days_ago)
    if days_ago < 60:
        return say("when_weeks_ago", weeks=days_ago // 7)
    if days_ago < 365:
        return say("when_months_ago", months=days_ago // 30)
    return say("when_over_a_year")


def progress_words(progress: Progress) -> str:
    """'You've done the routine 3 times this week, and you're on a 4-day streak. ...'"""
    if progress.last_at is None or progress.days_since_last is None:
        return say("progress_none")
    count = progress.runs_this_week
    week_key = {0: "progress_week_none", 1: "progress_week_once", 2: "progress_week_twice"}
    week = say(week_key.get(count, "progress_week_many"), count=count)
    if progress.streak_days >= 2:
        key = "progress_but_streak" if count == 0 else "progress_and_streak"
        first = say(key, week=week, days=progress.streak_days)
    else:
        first = say("progress_week_only", week=week)
    return (
        first
        + " "
        + say("progress_last", when=when_words(progress.last_at, progress.days_since_last))
    )


def streak_welcome(progress: Progress) -> str | None:
    """The welcome back with the person's streak, when they have one of two days or more."""
    if progress.streak_days < 2:
        return None
    key = "welcome_back_streak_done" if progress.done_today else "welcome_back_streak"
    return say(key, days=progress.streak_days)
