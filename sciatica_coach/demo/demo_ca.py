"""A throwaway root -> intermediate -> leaf chain that signs requests the way Alexa does.

The demo command and the tests need signed requests that pass the real verifier without
Amazon's key, so they trust this local root instead of the public ones. trustme makes the
root and the intermediate. The leaf is ours (one function): trustme marks a leaf's
subjectAltName and extendedKeyUsage critical, and the web PKI profile the verifier applies
(skill/verification.py, cryptography's server verifier, as Amazon's rules call for) refuses
both ("EE subjectAltName MUST NOT be critical when subject is nonempty"); trustme also cannot
issue a leaf without a subjectAltName, which the tests need to see refused.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from skill.verification import ALEXA_CERT_DOMAIN, cache_file_name, normalise_cert_url

logger = logging.getLogger(__name__)

DEFAULT_CERT_URL = "https://s3.amazonaws.com/echo.api/echo-api-cert-12.pem"

_ORGANIZATION = "Sciatica Coach (demo, untrusted)"
_BACKDATE = timedelta(days=1)
_LEAF_LIFETIME = timedelta(days=365)


def new_key() -> rsa.RSAPrivateKey:
    """RSA 2048 because Alexa signs with RSA and the verifier refuses anything weaker."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class DemoCA:
    """A local CA whose leaf impersonates Alexa's signing certificate.

    Generating keys is the slow part, so build one with `generate` and derive broken
    variants with `with_leaf`, which reuses the root, intermediate and (by default) leaf key.
    trustme's CAs are valid from 2000 to 3000, so any `now` a test picks is inside them.
    """

    root: trustme.CA
    intermediate: trustme.CA
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
        """The leaf is backdated a day so small clock skew never breaks the demo."""
        root = trustme.CA(
            key_type=trustme.KeyType.RSA,
            organization_name=_ORGANIZATION,
            organization_unit_name=f"{name} Root CA",
        )
        intermediate = trustme.CA(
            parent_cert=root,
            path_length=0,
            key_type=trustme.KeyType.RSA,
            organization_name=_ORGANIZATION,
            organization_unit_name=f"{name} Intermediate CA",
        )
        leaf_key = new_key()
        leaf_cert = _issue_leaf(
            intermediate,
            leaf_key,
            san=leaf_san,
            not_before=leaf_not_before or now - _BACKDATE,
            not_after=leaf_not_after or now + _LEAF_LIFETIME,
        )
        return cls(
            root=root,
            intermediate=intermediate,
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
            self.intermediate,
            leaf_key,
            san=san,
            not_before=not_before or now - _BACKDATE,
            not_after=not_after or now + _LEAF_LIFETIME,
        )
        return dataclasses.replace(self, leaf_cert=leaf_cert, leaf_key=leaf_key)

    @property
    def intermediate_cert(self) -> x509.Certificate:
        """The intermediate as a certificate object, for code that builds chains itself."""
        return x509.load_pem_x509_certificate(self.intermediate.cert_pem.bytes())

    def chain_pem(self) -> bytes:
        """Leaf first, then the intermediate: the order Amazon publishes its chains in."""
        leaf = self.leaf_cert.public_bytes(serialization.Encoding.PEM)
        return leaf + self.intermediate.cert_pem.bytes()

    def root_pem(self) -> bytes:
        """The one certificate a verifier must trust for this CA's requests to pass."""
        return self.root.cert_pem.bytes()

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


def _issue_leaf(
    issuer: trustme.CA,
    leaf_key: rsa.RSAPrivateKey,
    *,
    san: str | None,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A leaf as Amazon's is, SAN and EKU not critical (see the module docstring for why)."""
    issuer_cert = x509.load_pem_x509_certificate(issuer.cert_pem.bytes())
    issuer_key = serialization.load_pem_private_key(issuer.private_key_pem.bytes(), None)
    if not isinstance(issuer_key, rsa.RSAPrivateKey):
        raise TypeError("the demo intermediate must hold an RSA key, as Amazon's does")
    issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, san or "no-san.invalid"),
                ]
            )
        )
        .issuer_name(issuer_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
    )
    if san is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())
