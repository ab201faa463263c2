"""The privacy policy and the terms of use, written from the code's own figures.

Each figure a page states (how long a code lives, how often a watch's last visit is written,
how much of a hash the logs keep) is read from the constant the code uses, and what the
pages list as stored is held to the store's schema by tests/sciatica_coach/site/test_pages.py,
so a change in what is kept breaks a test before it makes the page untrue.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from shared.pairing.limits import CLIENT_START_LIMIT, PER_USER_LIMITS
from shared.pairing.protocol import PAIRING_LIFETIME_S
from shared.pairing.service import KEEP_EXPIRED_S, TOUCH_EVERY_S
from shared.timing.tuning import LISTEN_FOR_S
from shared.timing.voices import MAX_NUDGE_S
from shared.user_ref import USER_REF_HEX

SKILL_NAME = "Sciatica Coach"


def duration(seconds: float) -> str:
    """Seconds as a person says them: "10 minutes", "an hour", "a minute"."""
    whole = int(seconds)
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if whole >= size and whole % size == 0:
            count = whole // size
            if count == 1:
                return f"an {unit}" if unit == "hour" else f"a {unit}"
            return f"{count} {unit}s"
    return f"{seconds:g} seconds"


@dataclass(frozen=True, slots=True)
class Kept:
    """One kind of record the server keeps: the table it lives in, its columns, and our words."""

    heading: str
    table: str
    columns: tuple[str, ...]
    paragraphs: tuple[str, ...]


def counter_window_s() -> int:
    """The longest span any of the counters that carry an address or an account look back."""
    return max(limit.window_s for limit in (*PER_USER_LIMITS, CLIENT_START_LIMIT))


def kept_records() -> tuple[Kept, ...]:
    """Everything the store holds about people, table by table (the SQLite schema's names)."""
    return (
        Kept(
            "You, as Alexa names you",
            "users",
            ("user_id", "created_at", "safety_heard_at", "settings"),
            (
                "Alexa gives the skill an id for your Amazon account that only this skill "
                "sees: a long string of letters and digits, not your name. Everything below "
                "is filed under it. With it we keep when you first used the skill, when you "
                "last heard the safety note (so new users hear it first), and your own "
                "settings: hold length, holds on each side, which side goes first, whether "
                "the watch gives a warning buzz, whether the voice moves on by itself, and "
                "the time zone of your Alexa device.",
                "The time zone comes from Alexa's device settings, asked for when you ask "
                "how you are doing or at a launch that might mention your streak, so that "
                "days and streaks are counted in your own days.",
            ),
        ),
        Kept(
            "The routine you are doing",
            "runs",
            ("user_id", "version", "state"),
            (
                "Which step you are on, when the routine and the step started, when each "
                "hold starts and ends, and the steps planned from your settings. There is "
                "one per person: the next routine you start replaces it.",
            ),
        ),
        Kept(
            "The routines you finished",
            "history",
            ("run_id", "user_id", "routine_id", "started_at", "completed_at"),
            (
                "For every routine you finish: when it started and when it ended. This is "
                "what the skill counts when you ask how you are doing. There is no time "
                "limit: finished routines are kept until you disable the skill.",
            ),
        ),
        Kept(
            "How your speaker sounds",
            "voices",
            ("user_id", "profile", "offset_s", "updated_at", "tuning"),
            (
                "Only if you tune your watch or tell the skill the buzz was early or late: "
                "a handful of numbers describing how fast your speaker talks and how long it "
                "takes to start, your early-or-late correction (at most "
                f"{MAX_NUDGE_S:g} second either way), and when it was last changed.",
                "While a tuning is under way we also keep when each part of the script was "
                "read out. That goes as soon as the tuning finishes or is cancelled; one "
                f"left unfinished stops counting after {duration(LISTEN_FOR_S)} and is "
                "replaced by the next tuning.",
            ),
        ),
        Kept(
            "Your paired watches",
            "devices",
            ("token_hash", "user_id", "created_at", "last_seen_at"),
            (
                "For each watch you paired: a SHA-256 hash of its access token (the token "
                "itself is never stored), whose watch it is, when it was paired, and when "
                "it last asked for cues (written down at most once in "
                f"{duration(TOUCH_EVERY_S)}). Kept until you unpair the watch or disable "
                "the skill.",
            ),
        ),
        Kept(
            "A note of where your routine stands",
            "stamps",
            ("user_id", "run", "watches"),
            (
                "A few dozen characters saved with your routine so a watch's check can be "
                "answered quickly: the routine's version, its step and id, when it next "
                "moves on by itself, and a random value that changes whenever a watch of "
                "yours is paired or unpaired. Nothing in it is about you beyond that. It "
                "is replaced with every change and deleted when you disable the skill.",
            ),
        ),
        Kept(
            "Watches being paired",
            "pairings",
            (
                "device_code_hash",
                "user_code_hash",
                "created_at",
                "expires_at",
                "interval_s",
                "last_polled_at",
                "user_id",
                "bound_at",
                "denied",
            ),
            (
                "While a watch waits to be paired: hashes of its two codes (never the codes), "
                f"when the codes were made and when they run out ({duration(PAIRING_LIFETIME_S)} "
                "later), when the watch last checked, and, once you say the code, whose it "
                "is. The record is deleted when the watch collects its token. One never "
                f"collected is deleted once it is {duration(KEEP_EXPIRED_S)} past running "
                "out, the next time any watch starts pairing.",
            ),
        ),
        Kept(
            "Counters that stop code guessing",
            "rate_counters",
            ("key", "bucket", "count"),
            (
                "How many pairings were started from one network address, and how many wrong "
                "codes were said on one Alexa account. Each counter is named by a hash of "
                "the address or of the account id, never the address or the id itself, "
                "and holds only a count per short stretch of time. Counters look back "
                f"{duration(counter_window_s())} at most; older ones are deleted the next "
                "time any watch starts pairing.",
            ),
        ),
    )


#: The fields of the one log line written for each request (sciatica_coach/request_log.py).
LOGGED_FIELDS = ("method", "path", "status", "latency_ms", "outcome", "request_id", "user")


def privacy_sections() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The privacy policy as (heading, paragraphs), each paragraph plain text."""
    sections: list[tuple[str, tuple[str, ...]]] = [
        (
            "What this page covers",
            (
                f"{SKILL_NAME} is an Alexa skill that talks you through a sciatica stretching "
                "routine, with a watch face that can buzz at each hold. This page says what "
                "the server behind it keeps about you, for how long, and how to have it "
                "deleted. It describes what the code running this server does.",
            ),
        ),
        (
            "What we never receive",
            (
                "Alexa turns what you say into a request before the skill sees it: the skill "
                "gets which command you gave (and a number or a word, such as a pairing code "
                "or a hold length), never a recording of your voice. It does not know your "
                "name, email, phone number or address, and asks Alexa for none of them.",
                "When you tune your watch, the watch face listens through the microphone of "
                "the device it runs on and sends only the moments sound started and "
                "stopped. No audio leaves that device.",
                "There are no ads and no purchases. Nothing about you is sold or shared. The "
                "only outside service the server asks about you is Alexa's own device "
                "settings, for your time zone.",
            ),
        ),
    ]
    for kept in kept_records():
        sections.append((kept.heading, kept.paragraphs))
    sections += [
        (
            "Server logs",
            (
                "Each request to the server writes one line to its log: the method, the "
                "path (never the query string, which can carry codes), the status, how long "
                "it took, a request id, and, when the request concerns someone, the first "
                f"{USER_REF_HEX} hex digits of a SHA-256 hash of their account id instead of "
                "the id. Messages about a person carry the same hash. Your network address "
                "is not logged.",
                "How long logs are kept is up to whoever runs this server; disabling the "
                "skill does not remove them, since they name no one.",
            ),
        ),
        (
            "How to delete your data",
            (
                "Disable the skill in the Alexa app. Alexa tells the server, which then "
                "deletes everything listed above that concerns you: your settings, your "
                "current and finished routines, how your speaker sounds, your watches, "
                "codes said on your account, and your own counters. If the database cannot "
                "be reached at that moment, the server asks Alexa to send the notice again.",
                f'To remove only your watches, say "Alexa, ask {SKILL_NAME.lower()} to unpair '
                'my watch", or tap unpair on the watch face.',
                "There is no way yet to delete your finished routines while keeping the "
                "skill enabled.",
            ),
        ),
        (
            "Children",
            ("The skill is not meant for children and does not ask anyone's age.",),
        ),
    ]
    return tuple(sections)


def terms_sections() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The terms of use as (heading, paragraphs), each paragraph plain text."""
    return (
        (
            "Not medical advice",
            (
                f"{SKILL_NAME} gives general guidance for stretching. It is not medical "
                "advice: it does not diagnose or treat anything, and it is no substitute "
                "for a doctor or physiotherapist who has examined you. Ask one before you "
                "start, above all if your pain is new, severe, follows a fall or an "
                "injury, or keeps getting worse.",
            ),
        ),
        (
            "Stop when it hurts",
            (
                "Stop at once if you feel sharp pain, numbness, tingling or weakness, and "
                "get medical advice. Get help the same day if you cannot control your "
                "bladder or bowels, or if the area between your legs goes numb.",
                "Move slowly, on a floor with room around you, with a ball you can control. "
                "You decide how far to go: the voice and the buzzes keep time, they cannot "
                "see you.",
            ),
        ),
        (
            "No warranty",
            (
                "The skill, the watch face and their timing are offered as they are, with "
                "no promise that they work, are available, or suit your body. A buzz may "
                "come early, late or not at all. As far as the law allows, nobody who made "
                "or runs this service is liable for what happens when you use it.",
            ),
        ),
        (
            "Using the skill",
            (
                "By using the skill you accept these terms. They may change with the "
                "service; the version on this page is the one that applies. How your data "
                "is handled is on the privacy page.",
            ),
        ),
    )


def render(title: str, sections: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """A small page that reads well on a phone: no scripts, no outside files."""
    body = []
    for heading, paragraphs in sections:
        body.append(f"<h2>{escape(heading)}</h2>")
        body.extend(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs)
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} - {escape(SKILL_NAME)}</title>\n"
        "<style>body{font:1.05rem/1.55 system-ui,sans-serif;max-width:38rem;"
        "margin:0 auto;padding:1rem 1.1rem 3rem;color:#1b1b1b;background:#fff}"
        "h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.8rem}</style>\n"
        "</head>\n<body>\n"
        f"<h1>{escape(SKILL_NAME)}: {escape(title)}</h1>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def privacy_html() -> str:
    return render("Privacy policy", privacy_sections())


def terms_html() -> str:
    return render("Terms of use", terms_sections())
