"""The `sciatica-coach` command: serve the app, or play the routine as a local demo."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sciatica-coach", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server (Alexa endpoint, watch API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    demo = commands.add_parser("demo", help="play the whole routine locally, time-compressed")
    demo.add_argument(
        "--speed", type=float, default=10.0, help="how many times faster than real time"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.command == "demo" else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "demo":
        from .demo import run_local_demo

        if args.speed <= 0:
            print("--speed must be positive", file=sys.stderr)
            return 2
        return run_local_demo(speed=args.speed)
    from .app import create_app

    create_app().run(host=args.host, port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
