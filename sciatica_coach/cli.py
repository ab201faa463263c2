"""The `sciatica-coach` command: serve the app, or play the routine as a local demo."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from . import voice_cli

#: The demo's default speed: the whole routine in about 20 s of wall time, well under a minute.
DEFAULT_SPEED = 20.0
#: Above this a loopback round trip (a few real ms) is seconds of routine time: the spoken
#: and buzzed times drift apart by more than a person would accept, and at 400x the watch
#: already dropped a buzz as too late (docs/SERVING.md, "The demo").
MAX_SPEED = 100.0


def demo_speed(text: str) -> float:
    """A --speed the demo's timing works at: a finite number above 0, at most MAX_SPEED."""
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(speed) or not 0 < speed <= MAX_SPEED:
        raise argparse.ArgumentTypeError(
            f"must be a number above 0 and at most {MAX_SPEED:g} (got {text!r})"
        )
    return speed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sciatica-coach", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the HTTP server (Alexa endpoint, watch API) under gunicorn with gevent",
        description="Flags override the SCIATICA_* environment variables (see README).",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes; keep 1 with SQLite and the in-process notifier (docs/SERVING.md)",
    )
    serve.add_argument("--db", help="the SQLite file (SCIATICA_DB)")
    serve.add_argument("--skill-id", help="the Alexa skill's application id (SCIATICA_SKILL_ID)")
    serve.add_argument(
        "--ca-file", help="trusted roots for Alexa's signing chain (SCIATICA_ALEXA_CA_FILE)"
    )
    serve.add_argument(
        "--cert-cache", help="directory of cached signing chains (SCIATICA_ALEXA_CERT_CACHE)"
    )

    demo = commands.add_parser(
        "demo",
        help="play the whole routine, time-compressed: real server, signed speaker, watch",
    )
    demo.add_argument(
        "--speed",
        type=demo_speed,
        default=DEFAULT_SPEED,
        help=f"how many times faster than real time (above 0, at most {MAX_SPEED:g}; "
        f"default {DEFAULT_SPEED:g})",
    )
    demo.add_argument(
        "--picture",
        default="sciatica-session.svg",
        help="where to write the session timeline (SVG)",
    )
    voice_cli.add_parser(commands)
    add_skill_package_parser(commands)
    demo.add_argument(
        "--in-process",
        action="store_true",
        help="drive the core directly in one process, without a server",
    )
    demo.add_argument(
        "--hands-free",
        action="store_true",
        help="the voice carries on by itself: nobody says next",
    )
    return parser


def add_skill_package_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """The `skill-package` command: the ASK CLI project for one deployment."""
    package = commands.add_parser(
        "skill-package",
        help="write the ASK CLI project (skill.json and the interaction models) for a server",
        description="Writes DIR/ask-resources.json and DIR/skill-package/, every URL under "
        "--base-url: the endpoint <base>/alexa, the icons, the privacy policy and the terms.",
    )
    package.add_argument(
        "--base-url",
        required=True,
        help="where the server is reached, e.g. https://coach.example.org (https, port 443)",
    )
    package.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    package.add_argument(
        "--force",
        action="store_true",
        help="replace the package in a DIR that is not empty (other files there are kept)",
    )
    package.add_argument(
        "--source",
        type=Path,
        help="the skill package to start from (default: the repository's "
        "interaction_models/skill-package)",
    )


def run_skill_package(args: argparse.Namespace) -> int:
    """Write the project; a bad base URL or a full folder is a message and exit code 2."""
    from . import skill_package

    try:
        written = skill_package.write_project(
            args.output,
            args.base_url,
            force=args.force,
            source=args.source or skill_package.SOURCE,
        )
    except skill_package.PackageError as exc:
        print(f"sciatica-coach skill-package: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"sciatica-coach skill-package: error: cannot write {args.output}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {len(written)} files under {args.output}; deploy with: ask deploy")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "voice":
        return voice_cli.run(args)
    if args.command == "skill-package":
        return run_skill_package(args)
    if args.command == "demo":
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        if args.in_process:
            if args.hands_free:
                print("--hands-free plays against the server, not --in-process", file=sys.stderr)
                return 2
            from .demo.in_process import run_local_demo

            return run_local_demo(speed=args.speed)
        from .demo.live import run_live_demo

        return run_live_demo(
            speed=args.speed, picture=Path(args.picture), hands_free=args.hands_free
        )
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    from . import server

    options = server.ServeOptions(
        host=args.host,
        port=args.port,
        workers=args.workers,
        db=args.db,
        skill_id=args.skill_id,
        ca_file=args.ca_file,
        cert_cache=args.cert_cache,
    )
    return server.serve(options)


if __name__ == "__main__":
    sys.exit(main())
