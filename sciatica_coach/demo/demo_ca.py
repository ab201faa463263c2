"""A throwaway root -> intermediate -> leaf chain that signs requests the way Alexa does.

The demo command and the tests need signed requests that pass the real verifier without
Amazon's key, so they trust this local root instead of the public ones.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from skill.verification import ALEXA_CERT_DOMAIN, cache_file_name, normalise_cert_url

logger = logging.getLogger(__name__)

DEFAULT_CERT_URL = "https://s3.amazonaws.com/echo.api/echo-api-cert-12.pem"

_BACKDATE = timedelta(days=1)
_ROOT_LIFETIME = timedelta(days=3650)
_INTERMEDIATE_LIFETIME = timedelta(days=1825)
_LEAF_LIFETIME = timedelta(days=365)


def new_key() -> rsa.RSAPrivateKey:
    """RSA 2048 because the verifier's web PKI profile refuses anything weaker."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class DemoCA:
    """A local CA whose leaf impersonates Alexa's signing certificate.

    Generating keys is the slow part, so build one with `generate` and derive broken
    variants with `with_leaf`, which reuses the root, intermediate and (by default) leaf key.
    """

    root_cert: x509.Certificate
    root_key: rsa.RSAPrivateKey
    intermediate_cert: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey
    leaf_cert: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    cert_url: str = DEFAULT_CERT_URL

    @classmethod
    def generate(
        cls,
        *,
        now: datetime,
        cert_url: str = DEFAULT_CERT_URL,
        leaf_san: str | None = ALEXA_CERT_DOMAIN,
        leaf_not_before: datetime | None = None,
        leaf_not_after: datetime | None = None,
        name: str = "Sciatica Coach Demo",
    ) -> DemoCA:
        """Every certificate is backdated a day so small clock skew never breaks the demo."""
        root_key, intermediate_key, leaf_key = new_key(), new_key(), new_key()
        root_name = _name(f"{name} Root CA")
        root_cert = _ca_cert(
            subject=root_name,
            subject_key=root_key,
            issuer=root_name,
            issuer_key=root_key,
            not_before=now - _BACKDATE,
            not_after=now + _ROOT_LIFETIME,
            path_length=None,
        )
        intermediate_cert = _ca_cert(
            subject=_name(f"{name} Intermediate CA"),
            subject_key=intermediate_key,
            issuer=root_name,
            issuer_key=root_key,
            not_before=now - _BACKDATE,
            not_after=now + _INTERMEDIATE_LIFETIME,
            path_length=0,
        )
        leaf_cert = _issue_leaf(
            intermediate_cert,
            intermediate_key,
            leaf_key,
            san=leaf_san,
            not_before=leaf_not_before or now - _BACKDATE,
            not_after=leaf_not_after or now + _LEAF_LIFETIME,
        )
        return cls(
            root_cert=root_cert,
            root_key=root_key,
            intermediate_cert=intermediate_cert,
            intermediate_key=intermediate_key,
            leaf_cert=leaf_cert,
            leaf_key=leaf_key,
            cert_url=cert_url,
        )

    def with_leaf(
        self,
        *,
        now: datetime,
        san: str | None = ALEXA_CERT_DOMAIN,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        fresh_key: bool = False,
    ) -> DemoCA:
        """Reissue just the leaf (san=None: no SAN) so broken variants cost no CA key generation."""
        leaf_key = new_key() if fresh_key else self.leaf_key
        leaf_cert = _issue_leaf(
            self.intermediate_cert,
            self.intermediate_key,
            leaf_key,
            san=san,
            not_before=not_before or now - _BACKDATE,
            not_after=not_after or now + _LEAF_LIFETIME,
        )
        return dataclasses.replace(self, leaf_cert=leaf_cert, leaf_key=leaf_key)

    def chain_pem(self) -> bytes:
        """Leaf first, then the intermediate: the order Amazon publishes its chains in."""
        return b"".join(
            cert.public_bytes(serialization.Encoding.PEM)
            for cert in (self.leaf_cert, self.intermediate_cert)
        )

    def root_pem(self) -> bytes:
        """The one certificate a verifier must trust for this CA's requests to pass."""
        return self.root_cert.public_bytes(serialization.Encoding.PEM)

    def write_root(self, path: str | os.PathLike[str]) -> Path:
        """Write the root as the CA file handed to the verifier (SCIATICA_ALEXA_CA_FILE)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.root_pem())
        return target

    def install_chain(self, cache_dir: str | os.PathLike[str]) -> Path:
        """Pre-seed the verifier's cert cache so no download of `cert_url` is ever attempted."""
        directory = Path(cache_dir)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / cache_file_name(normalise_cert_url(self.cert_url))
        target.write_bytes(self.chain_pem())
        logger.debug("installed demo chain for %s at %s", self.cert_url, target)
        return target

    def sign(self, body: bytes, *, key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        """Headers Alexa would send with `body`; pass another `key` to forge a bad signature."""
        signer = key or self.leaf_key
        signature = signer.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return {
            "SignatureCertChainUrl": self.cert_url,
            "Signature-256": base64.b64encode(signature).decode("ascii"),
            "Content-Type": "application/json",
        }


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sciatica Coach (demo, untrusted)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_cert(
    *,
    subject: x509.Name,
    subject_key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    not_before: datetime,
    not_after: datetime,
    path_length: int | None,
) -> x509.Certificate:
    ski = x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
    )
    if subject_key is not issuer_key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _issue_leaf(
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    leaf_key: rsa.RSAPrivateKey,
    *,
    san: str | None,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(san or "no-san.invalid"))
        .issuer_name(issuer_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(_authority_key_id(issuer_cert), critical=False)
    )
    if san is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())
