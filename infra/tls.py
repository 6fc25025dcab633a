"""The site certificate: self-signed for the VM's FQDN by default, or the PFX the user gives.

Either way the result is what the bootstrap contract wants in Key Vault: base64 of a PKCS#12 (PFX) file with
the certificate and its key (secret ``tls-pfx``), its non-empty password (``tls-pfx-password``), and the
certificate as PEM for the stack output ``certificatePem`` (what clients pin).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_random as random
import pulumi_tls as tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pulumi import dynamic
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
    # Only when asked for (the production tier's Application Gateway): the same key and certificate as a PFX
    # without a password, "base-64 encoded unencrypted pfx" (pulumi-azure-native network
    # ApplicationGatewaySslCertificateArgs.key_vault_secret_id).
    gateway_pfx_base64: pulumi.Output[str] | None = None


class PfxProvider(dynamic.ResourceProvider):
    """Builds the PFX once and keeps it in Pulumi state.

    A PFX built in an apply differs on every ``pulumi up`` (PKCS#12 takes a random salt and IV), so the
    ``tls-pfx`` secret would be rewritten each run. Here ``create`` builds it and ``diff`` asks for a new one
    only when the key, the certificate or the password changed. Pulumi pickles the provider (dill) into the
    state and its provider process unpickles it: the class is found as ``infra.tls.PfxProvider`` (the
    project is installed, ``pip install -e .``), and its methods import what they use themselves.
    """

    INPUTS = ("key_pem", "cert_pem", "password")

    @staticmethod
    def encryption(password: str) -> Any:
        """The PKCS#12 3DES/SHA-1 suite (cryptography's PBESv1SHA1And3KeyTripleDESCBC) is the one every Windows
        release's PFX import reads; the AES-256 default of BestAvailableEncryption is not."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        return (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(PFX_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(password.encode("utf-8"))
        )

    @classmethod
    def build(cls, key_pem: str, cert_pem: str, password: str) -> str:
        """Base64 of a PFX holding the key and certificate, protected as ``encryption`` says."""
        import base64

        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import pkcs12

        key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
        cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise TypeError(f"a {type(key).__name__} cannot go into a PFX")
        pfx = pkcs12.serialize_key_and_certificates(PFX_FRIENDLY_NAME, key, cert, None, cls.encryption(password))
        return base64.b64encode(pfx).decode("ascii")

    @staticmethod
    def inputs_digest(props: Mapping[str, Any]) -> str:
        import hashlib

        parts = [str(props.get(name, "")) for name in ("key_pem", "cert_pem", "password")]
        return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        pfx = self.build(str(props["key_pem"]), str(props["cert_pem"]), str(props["password"]))
        digest = self.inputs_digest(props)
        return dynamic.CreateResult(id_=digest[:16], outs={"pfx_base64": pfx, "inputs_sha256": digest})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> dynamic.DiffResult:
        changed = _olds.get("inputs_sha256") != self.inputs_digest(_news)
        return dynamic.DiffResult(
            changes=changed, replaces=list(self.INPUTS) if changed else [], delete_before_replace=False
        )


PFX_RESOURCE_MODULE = "ostops"
PFX_RESOURCE_NAME = "TlsPfx"


class TlsPfx(dynamic.Resource, module=PFX_RESOURCE_MODULE, name=PFX_RESOURCE_NAME):
    """The PFX for a key, certificate and password, kept in state (``pfx_base64`` is a secret output)."""

    pfx_base64: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        key_pem: pulumi.Input[str],
        cert_pem: pulumi.Input[str],
        password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "key_pem": pulumi.Output.secret(key_pem),
            "cert_pem": cert_pem,
            "password": pulumi.Output.secret(password),
            "pfx_base64": None,
            "inputs_sha256": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["pfx_base64", "key_pem", "password"])
        super().__init__(PfxProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))


class GatewayPfxProvider(PfxProvider):
    """As ``PfxProvider``, but the PFX is not encrypted: what Application Gateway reads from Key Vault.

    The key is protected by Key Vault (RBAC, readable by the gateway's identity only), not by a password.
    """

    @staticmethod
    def encryption(password: str) -> Any:
        from cryptography.hazmat.primitives import serialization

        del password  # no password: the gateway reads an unencrypted PFX
        return serialization.NoEncryption()


GATEWAY_PFX_RESOURCE_NAME = "GatewayPfx"


class GatewayPfx(dynamic.Resource, module=PFX_RESOURCE_MODULE, name=GATEWAY_PFX_RESOURCE_NAME):
    """The unencrypted PFX for a key and certificate, kept in state (``pfx_base64`` is a secret output)."""

    pfx_base64: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        key_pem: pulumi.Input[str],
        cert_pem: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "key_pem": pulumi.Output.secret(key_pem),
            "cert_pem": cert_pem,
            "password": "",
            "pfx_base64": None,
            "inputs_sha256": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["pfx_base64", "key_pem"])
        super().__init__(GatewayPfxProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))


def unencrypted_pfx(pfx_base64: str, password: str) -> str:
    """The user's PFX re-packed without a password (at program time; it stays a Pulumi secret)."""
    key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(pfx_base64), password.encode("utf-8"))
    if key is None or cert is None:
        raise ValueError("the PFX holds no key or no certificate")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return GatewayPfxProvider.build(key_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii"), "")


def pfx_from_pem(key_pem: str, cert_pem: str, password: str) -> str:
    return PfxProvider.build(key_pem, cert_pem, password)


def certificate_sha256(cert_pem: str) -> str:
    """SHA-256 of the certificate's DER bytes (what Windows calls RawData), lower-case hex: not a secret."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    return cert.fingerprint(hashes.SHA256()).hex()


def certificate_pem_from_pfx(pfx_base64: str, password: str) -> str:
    _, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(pfx_base64), password.encode("utf-8"))
    if cert is None:
        raise ValueError("the PFX holds no certificate")
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def self_signed(
    name: str, fqdn: pulumi.Input[str], parent: pulumi.Resource, gateway: bool = False
) -> TlsMaterial:
    """A pulumi-tls RSA key and a self-signed certificate with the FQDN as its DNS SAN, packed as a PFX
    (and, with ``gateway``, also as the unencrypted PFX Application Gateway reads)."""
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
    pfx = TlsPfx(f"{name}-pfx", key.private_key_pem, cert.cert_pem, password.result, opts=child)
    gateway_pfx: pulumi.Output[str] | None = None
    if gateway:
        unencrypted = GatewayPfx(f"{name}-gateway-pfx", key.private_key_pem, cert.cert_pem, opts=child)
        gateway_pfx = pulumi.Output.secret(unencrypted.pfx_base64)
    return TlsMaterial(
        pfx_base64=pulumi.Output.secret(pfx.pfx_base64),
        pfx_password=pulumi.Output.secret(password.result),
        certificate_pem=cert.cert_pem,
        gateway_pfx_base64=gateway_pfx,
    )


def given(pfx_base64: SecretStr, password: SecretStr, gateway: bool = False) -> TlsMaterial:
    """The user's PFX (already checked to open with its password by the config)."""
    pem = certificate_pem_from_pfx(pfx_base64.get_secret_value(), password.get_secret_value())
    gateway_pfx = (
        pulumi.Output.secret(unencrypted_pfx(pfx_base64.get_secret_value(), password.get_secret_value()))
        if gateway
        else None
    )
    return TlsMaterial(
        pfx_base64=pulumi.Output.secret(pfx_base64.get_secret_value()),
        pfx_password=pulumi.Output.secret(password.get_secret_value()),
        certificate_pem=pulumi.Output.from_input(pem),
        gateway_pfx_base64=gateway_pfx,
    )
