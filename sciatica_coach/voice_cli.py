"""`sciatica-coach voice`: measure a voice once, so the buzzes meet what it says.

- `voice script` prints the calibration script (SSML) for the voice to read;
- `voice calibrate RECORDING -o profile.json` learns a profile from a recording of it;
- `voice estimate [--profile P]` times SSML documents read from stdin, one per line, with
  the same code the server times its replies with.

Bad input (no file, not audio, a recording of something else, silence, a broken profile, a
line of SSML that is not well-formed) gets one line on stderr and exit status 2, as argparse
does for a bad flag.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from shared.routine.definition import RoutineError, load_routine
from shared.timing import ProfileError, SSMLError
from shared.timing.fit import RecordingMismatch, fit_profile
from skill.calibration import calibration_script

from .config import ConfigError, from_env
from .timing_config import deployment_timing

PROG = "sciatica-coach voice"


class VoiceCommandError(Exception):
    """What went wrong, in one line for the person at the terminal."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    voice = commands.add_parser(
        "voice",
        help="measure a voice (script, calibrate, estimate) so the buzzes meet its words",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = voice.add_subparsers(dest="voice_command", required=True)
    actions.add_parser("script", help="print the calibration script as SSML")
    calibrate = actions.add_parser(
        "calibrate", help="learn a voice profile from a recording of the script"
    )
    calibrate.add_argument("recording", help="the recording (WAV, FLAC or OGG; any rate)")
    calibrate.add_argument("-o", "--output", required=True, help="where to write the profile")
    calibrate.add_argument("--name", default="", help="a name for the voice, kept in the file")
    calibrate.add_argument(
        "--starts-at-response",
        action="store_true",
        help="the recording started the moment the script's response left the server, "
        "so its leading silence is the speaker's start delay",
    )
    estimate = actions.add_parser(
        "estimate", help="print how long each SSML line on stdin takes to say, in seconds"
    )
    estimate.add_argument("--profile", help="a voice profile (default: SCIATICA_VOICE_PROFILE)")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if args.voice_command == "script":
            print(calibration_script(load_routine(from_env()["ROUTINE_FILE"])).ssml(), file=out)
        elif args.voice_command == "calibrate":
            _calibrate(args, out)
        else:
            _estimate(args, sys.stdin, out)
    except (VoiceCommandError, RoutineError, ConfigError) as exc:
        print(f"{PROG} {args.voice_command}: {exc}", file=err)
        return 2
    return 0


def _calibrate(args: argparse.Namespace, out: TextIO) -> None:
    # numpy and libsndfile load only for the command that reads audio.
    from .recording import RecordingError, sounds_in

    script = calibration_script(load_routine(from_env()["ROUTINE_FILE"]))
    try:
        sounds = sounds_in(args.recording)
        profile = fit_profile(
            script,
            sounds,
            name=args.name,
            response_at=0.0 if args.starts_at_response else None,
        )
    except (RecordingError, RecordingMismatch) as exc:
        raise VoiceCommandError(str(exc)) from None
    try:
        Path(args.output).write_text(profile.dumps(), "utf-8")
    except OSError as exc:
        raise VoiceCommandError(f"cannot write {args.output}: {exc.strerror}") from None
    fit = profile.fit
    print(f"heard all {fit['parts']} parts of the script ({fit['speech_s']:.1f} s of speech)")
    unheard, silence = fit["unheard_text_miss_s"], fit["silence_miss_s"]
    print("texts in the script: timed exactly, as heard")
    print(
        f"other texts, each timed as if unheard: median miss {unheard['median'] * 1000:.0f} ms, "
        f"max {unheard['max'] * 1000:.0f} ms"
    )
    print(
        f"silences between parts: median miss {silence['median'] * 1000:.0f} ms, "
        f"max {silence['max'] * 1000:.0f} ms"
    )
    if profile.start_delay_s is not None:
        print(f"start delay: {profile.start_delay_s * 1000:.0f} ms from response to first sound")
    print(f"profile written to {args.output}; use it with SCIATICA_VOICE_PROFILE={args.output}")


def _estimate(args: argparse.Namespace, lines: TextIO, out: TextIO) -> None:
    config = from_env()
    if args.profile:
        config["VOICE_PROFILE"] = args.profile
    try:
        timing = deployment_timing(config)
    except ConfigError as exc:
        if isinstance(exc.__cause__, ProfileError) or exc.name == "SCIATICA_VOICE_PROFILE":
            raise VoiceCommandError(f"{exc.value}: {exc.problem}") from None
        raise
    try:
        for number, line in enumerate(lines, 1):
            ssml = line.strip()
            try:
                print(f"{timing.estimate(ssml) if ssml else 0.0:.3f}", file=out, flush=True)
            except SSMLError as exc:
                raise VoiceCommandError(f"line {number} of stdin: {exc}") from None
    except UnicodeDecodeError:
        raise VoiceCommandError("stdin is not UTF-8 text") from None
