"""
Test PKI generated on the fly (no key material in the repository): a CA,
a server certificate and a client certificate, written as PEM files.
"""

from __future__ import annotations

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_EPOCH = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: str, issuer_key, ca: bool) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_EPOCH)
        .not_valid_after(_EPOCH + datetime.timedelta(days=36500))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_pki(directory: str) -> dict[str, str]:
    """
    Write ca.pem, server.pem/server-key.pem and client.pem/client-key.pem
    under C{directory}; return their paths (keys: ca, cert, key,
    server_cert, server_key).
    """
    os.makedirs(directory, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("kea-ha-tw test CA", ca_key, "kea-ha-tw test CA", ca_key, True)
    out: dict[str, str] = {}

    def write(name: str, data: bytes) -> str:
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    out["ca"] = write("ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    for role, cert_key, key_key in (("client", "cert", "key"),
                                    ("server", "server_cert", "server_key")):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(f"{role}.test", key, "kea-ha-tw test CA", ca_key, False)
        out[cert_key] = write(f"{role}.pem", cert.public_bytes(serialization.Encoding.PEM))
        out[key_key] = write(f"{role}-key.pem", _pem_key(key))
    return out
