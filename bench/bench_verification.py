"""How much the per-request chain validation costs once the chain is cached.

Run from the repository root: python -m bench.bench_verification [runs]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from skill.demo_ca import DemoCA
from skill.verification import AlexaRequestVerifier

SKILL_ID = "amzn1.ask.skill.bench"


def main(runs: int = 2000) -> None:
    """Time verify() alone: CA generation and the first (disk) chain load are warm-up."""
    now = datetime.now(UTC)
    ca = DemoCA.generate(now=now)
    body = json.dumps(
        {
            "version": "1.0",
            "context": {"System": {"application": {"applicationId": SKILL_ID}}},
            "request": {
                "type": "IntentRequest",
                "requestId": "amzn1.echo-api.request.bench",
                "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "locale": "en-GB",
            },
        }
    ).encode("utf-8")
    headers = ca.sign(body)
    with tempfile.TemporaryDirectory() as tmp:
        ca.install_chain(Path(tmp) / "certs")
        verifier = AlexaRequestVerifier(
            skill_id=SKILL_ID,
            ca_file=ca.write_root(Path(tmp) / "root.pem"),
            cert_cache_dir=Path(tmp) / "certs",
            clock=now.timestamp,
        )
        verifier.verify(headers, body)  # warm the in-memory chain cache
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            verifier.verify(headers, body)
            samples.append(time.perf_counter() - start)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"verify() with a cached chain, {runs} runs:")
    print(f"  median {statistics.median(samples) * 1e6:8.1f} us")
    print(f"  p99    {p99 * 1e6:8.1f} us")
    print(f"  max    {samples[-1] * 1e6:8.1f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
