"""The site certificate: self-signed for the VM's FQDN by default, or the PFX the user gives.

Either way the result is what the bootstrap contract wants in Key Vault: base64 of a PKCS#12 (PFX) file with
the certificate and its key (secret ``tls-pfx``), its non-empty password (``tls-pfx-password``), and the
certificate as PEM for the stack output ``certificatePem`` (what clients pin).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_random as random
import pulumi_tls as tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic import SecretStr

RSA_BITS = 2048
# Two years; `pulumi up` after early_renewal_hours into the last 30 days issues a new one.
VALIDITY_HOURS = 2 * 365 * 24
EARLY_RENEWAL_HOURS = 30 * 24
# pulumi-tls's accepted values for allowed_uses (RFC 5280 key usages / extended key usages).
SERVER_USES = ("key_encipherment", "digital_signature", "server_auth")
PFX_FRIENDLY_NAME = b"ostops site certificate"
PFX_KDF_ROUNDS = 50_000


@dataclass(frozen=True)
class TlsMaterial:
    pfx_base64: pulumi.Output[str]
    pfx_password: pulumi.Output[str]
    certificate_pem: pulumi.Output[str]


def pfx_from_pem(key_pem: str, cert_pem: str, password: str) -> str:
    """Base64 of a PFX holding the key and certificate, encrypted with the password.

    The PKCS#12 3DES/SHA-1 suite (cryptography's PBESv1SHA1And3KeyTripleDESCBC) is the one every Windows
    release's PFX import reads; the AES-256 default of BestAvailableEncryption is not.
    """
    key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PFX_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(password.encode("utf-8"))
    )
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError(f"a {type(key).__name__} cannot go into a PFX")
    pfx = pkcs12.serialize_key_and_certificates(PFX_FRIENDLY_NAME, key, cert, None, encryption)
    return base64.b64encode(pfx).decode("ascii")


def certificate_sha256(cert_pem: str) -> str:
    """SHA-256 of the certificate's DER bytes (what Windows calls RawData), lower-case hex: not a secret."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    return cert.fingerprint(hashes.SHA256()).hex()


def certificate_pem_from_pfx(pfx_base64: str, password: str) -> str:
    _, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(pfx_base64), password.encode("utf-8"))
    if cert is None:
        raise ValueError("the PFX holds no certificate")
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def self_signed(name: str, fqdn: pulumi.Input[str], parent: pulumi.Resource) -> TlsMaterial:
    """A pulumi-tls RSA key and a self-signed certificate with the FQDN as its DNS SAN, packed as a PFX."""
    child = pulumi.ResourceOptions(parent=parent)
    key = tls.PrivateKey(f"{name}-key", algorithm="RSA", rsa_bits=RSA_BITS, opts=child)
    cert = tls.SelfSignedCert(
        f"{name}-cert",
        private_key_pem=key.private_key_pem,
        subject=tls.SelfSignedCertSubjectArgs(common_name=fqdn, organization="ostops"),
        dns_names=[fqdn],
        allowed_uses=list(SERVER_USES),
        validity_period_hours=VALIDITY_HOURS,
        early_renewal_hours=EARLY_RENEWAL_HOURS,
        opts=child,
    )
    password = random.RandomPassword(f"{name}-pfx-password", length=32, special=False, opts=child)
    pfx = pulumi.Output.all(key.private_key_pem, cert.cert_pem, password.result).apply(
        lambda parts: pfx_from_pem(parts[0], parts[1], parts[2])
    )
    return TlsMaterial(
        pfx_base64=pulumi.Output.secret(pfx),
        pfx_password=pulumi.Output.secret(password.result),
        certificate_pem=cert.cert_pem,
    )


def given(pfx_base64: SecretStr, password: SecretStr) -> TlsMaterial:
    """The user's PFX (already checked to open with its password by the config)."""
    pem = certificate_pem_from_pfx(pfx_base64.get_secret_value(), password.get_secret_value())
    return TlsMaterial(
        pfx_base64=pulumi.Output.secret(pfx_base64.get_secret_value()),
        pfx_password=pulumi.Output.secret(password.get_secret_value()),
        certificate_pem=pulumi.Output.from_input(pem),
    )
