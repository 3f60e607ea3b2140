"""Certificates made for one run: a CA of its own and the certificates it signs (PEM files).

For `heila demo --tls` (HTTPS and MQTT over TLS on loopback) and the tests' TLS links: every
certificate names 127.0.0.1 and localhost, lives a day, and nothing of it is kept in the
repository. Whoever is to trust them is given the CA's file (SSL_CERT_FILE, or --tls-ca).
"""

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_LIFETIME = timedelta(days=1)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(folder: Path, name: str, certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
    (folder / f"{name}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    secret = folder / f"{name}.key"
    secret.touch(mode=0o600)
    secret.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def issue(
    folder: Path, subjects: Sequence[str], authority: str = "heila run CA"
) -> dict[str, Path]:
    """A CA (`ca`) and a certificate for each subject, its common name (`NAME`, `NAME-key`):
    the files by those names, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, authority)])

    def certificate(subject: x509.Name, key: rsa.RSAPrivateKey, is_ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + _LIFETIME)
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if not is_ca:  # the names a client checks a loopback server by
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    _write(folder, "ca", certificate(ca_name, ca_key, True), ca_key)
    for subject in subjects:
        key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        _write(folder, subject, certificate(name, key, False), key)
    files = {"ca": folder / "ca.crt", "ca-key": folder / "ca.key"}
    for subject in subjects:
        files |= {subject: folder / f"{subject}.crt", f"{subject}-key": folder / f"{subject}.key"}
    return files
