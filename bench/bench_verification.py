"""How much verifying one Alexa request costs once its chain is cached, and where it goes.

Run from the repository root: python -m bench.bench_verification [runs]

Once a chain has validated, a request strictly inside its validity window skips path
validation, so what is left is mostly the RSA check of the body's signature. Path
validation (two RSA signature checks and the web-PKI policy: what a request outside a known
window adds) and the body's RSA check are timed alone in the same run, so the remainder,
our own parsing and checks, can be read off. Two trust stores are measured:
the demo root alone, and the demo root added to certifi's bundle (what production loads).
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import verification as x509_verification

from bench.support import percentile
from sciatica_coach.demo.demo_ca import DemoCA
from skill.verification import ALEXA_CERT_DOMAIN, AlexaRequestVerifier, load_trusted_roots

SKILL_ID = "amzn1.ask.skill.bench"


def interleaved_us(calls: list[Callable[[], object]], runs: int) -> list[tuple[float, float]]:
    """Median and p99 of each call in microseconds, taken in turn so all see the same load."""
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for call, timings in zip(calls, samples, strict=True):
            start = time.perf_counter()
            call()
            timings.append(time.perf_counter() - start)
    return [
        (statistics.median(timings) * 1e6, percentile(timings, 0.99) * 1e6) for timings in samples
    ]


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
    signature = base64.b64decode(headers["Signature-256"])
    leaf_key = ca.leaf_cert.public_key()
    assert isinstance(leaf_key, rsa.RSAPublicKey)
    with tempfile.TemporaryDirectory() as tmp:
        ca.install_chain(Path(tmp) / "certs")
        only_demo = ca.write_root(Path(tmp) / "root.pem")
        with_certifi = Path(tmp) / "bundle.pem"
        with_certifi.write_bytes(Path(certifi.where()).read_bytes() + ca.root_pem())
        print(f"verify() with a cached chain, {runs} runs each (microseconds)")
        for label, ca_file in (("demo root", only_demo), ("certifi + demo root", with_certifi)):
            verifier = AlexaRequestVerifier(
                skill_id=SKILL_ID,
                ca_file=ca_file,
                cert_cache_dir=Path(tmp) / "certs",
                clock=now.timestamp,
            )
            verifier.verify(headers, body)  # warm the in-memory chain cache
            policy = x509_verification.PolicyBuilder().store(
                x509_verification.Store(load_trusted_roots(ca_file))
            )

            def path_validation(policy: x509_verification.PolicyBuilder = policy) -> None:
                policy.time(now).build_server_verifier(x509.DNSName(ALEXA_CERT_DOMAIN)).verify(
                    ca.leaf_cert, [ca.intermediate_cert]
                )

            def body_signature() -> None:
                leaf_key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())

            (total, total_p99), (chain, _), (rsa_check, _) = interleaved_us(
                [lambda v=verifier: v.verify(headers, body), path_validation, body_signature],
                runs,
            )
            print(f"  {label}:")
            print(f"    verify()          median {total:7.1f}   p99 {total_p99:7.1f}")
            print(f"    path validation   median {chain:7.1f}   (cryptography; outside a window)")
            print(f"    body signature    median {rsa_check:7.1f}   (cryptography)")
            print(f"    the rest (ours)   median {total - rsa_check:7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
