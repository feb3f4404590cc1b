"""The secure local stack's Kafka: a local CA and broker certificate, SCRAM-SHA-512 users, and the client settings.

``smartsync stack up --secure`` gives the broker one client listener, SASL_SSL with SCRAM-SHA-512 over TLS
(the controller listener stays PLAINTEXT on loopback, as only the broker itself uses it). Everything is made
locally at stack-up and kept in the stack folder, 0600: the CA and broker key (``tls/``), the SCRAM
passwords (``kafka-users.json``, random per stack folder) and the librdkafka properties file that
``smartsync stack env`` names in ``SMARTSYNC_KAFKA_CONFIG_FILE``. Passwords are never printed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smartsync.core.files import write_private

MECHANISM = "SCRAM-SHA-512"
# The broker talks to itself as BROKER_USER; Kafka Connect and SmartSync's own clients each have a user,
# so one can be rotated (or, with ACLs, limited) without touching the others.
BROKER_USER = "smartsync-broker"
CONNECT_USER = "smartsync-connect"
CLIENT_USER = "smartsync"
USERS = (BROKER_USER, CONNECT_USER, CLIENT_USER)
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
_CERT_DAYS = 365
_CA_DAYS = 5 * 365
# Certificates this close to expiry are made again at the next stack-up.
_RENEW_BEFORE = dt.timedelta(days=7)
# librdkafka properties that carry connection security; the stack's own clients replace them with the stack's.
SECURITY_PREFIXES = ("security.protocol", "sasl.", "ssl.", "ssl_", "enable.ssl.")


def tls_dir(run: Path) -> Path:
    return run / "tls"


def ca_file(run: Path) -> Path:
    return tls_dir(run) / "ca.pem"


def broker_key_file(run: Path) -> Path:
    """The broker's PEM keystore: its private key (PKCS#8) followed by its certificate and the CA's."""
    return tls_dir(run) / "broker.pem"


def client_properties_file(run: Path) -> Path:
    return run / "kafka-client.properties"


def kafka_users(run: Path) -> dict[str, str]:
    """The SCRAM users and their passwords, made once per stack folder (Kafka's data keeps them)."""
    path = run / "kafka-users.json"
    if path.exists():
        users: dict[str, str] = json.loads(path.read_text())
        if set(users) == set(USERS) and all(users.values()):
            return users
    # Hex only: the storage tool's --add-scram syntax has no quoting for ',', '=' or ']'.
    users = {user: secrets.token_hex(24) for user in USERS}
    write_private(path, json.dumps(users, indent=2))
    return users


def users_fingerprint(users: dict[str, str]) -> str:
    """Identifies a set of credentials without revealing them (kept next to Kafka's data to spot a mismatch)."""
    return hashlib.sha256(json.dumps(users, sort_keys=True).encode()).hexdigest()[:16]


def ensure_certificates(run: Path, *, now: dt.datetime | None = None) -> None:
    """A local CA and a broker certificate for 127.0.0.1 and localhost; each made again only when it nears expiry.

    The CA outlives the broker certificate, so a renewed broker certificate is signed by the CA the clients
    already trust (its key is kept for that, 0600) and nothing else has to change.
    """
    now = now or dt.datetime.now(dt.UTC)
    ca = _load_ca(run, now)
    if ca is not None and _valid(broker_key_file(run), now):
        return
    if ca is None:
        ca = _new_ca(run, now)
    ca_key, ca_cert = ca
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    broker_cert = (
        _builder(broker_name, ca_cert.subject, broker_key.public_key(), now, _CERT_DAYS)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    # Kafka's PEM keystore: an unencrypted PKCS#8 key (file 0600) then the chain, leaf first.
    write_private(
        broker_key_file(run),
        broker_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + broker_cert.public_bytes(pem)
        + ca_cert.public_bytes(pem),
    )


def _load_ca(run: Path, now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    if not _valid(ca_file(run), now):
        return None
    try:
        key = serialization.load_pem_private_key((tls_dir(run) / "ca.key").read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    cert = x509.load_pem_x509_certificate(ca_file(run).read_bytes())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    return key, cert


def _new_ca(run: Path, now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SmartSync local stack CA")])
    cert = (
        _builder(name, name, key.public_key(), now, _CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_private(
        tls_dir(run) / "ca.key", key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    write_private(ca_file(run), cert.public_bytes(pem))
    return key, cert


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: dt.datetime, days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _valid(path: Path, now: dt.datetime) -> bool:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return False
    return all(c.not_valid_after_utc - _RENEW_BEFORE > now for c in certs)


def jaas(user: str, password: str) -> str:
    return f'{_SCRAM_LOGIN} required username="{user}" password="{password}";'


def broker_properties(run: Path, users: dict[str, str]) -> list[str]:
    """``server.properties`` lines of the SASL_SSL listener (the listener itself is named by the caller)."""
    return [
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas(BROKER_USER, users[BROKER_USER])}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={broker_key_file(run)}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={ca_file(run)}",
        "ssl.client.auth=none",
        "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
    ]


def scram_format_args(users: dict[str, str]) -> list[str]:
    """The storage tool's arguments that create every SCRAM user when Kafka's storage is formatted."""
    args: list[str] = []
    for user in USERS:
        args += ["--add-scram", f"{MECHANISM}=[name={user},password={users[user]}]"]
    return args


def connect_worker_properties(run: Path, users: dict[str, str]) -> list[str]:
    """A Connect worker's security lines: the worker's own clients and its producers', consumers' and admins'."""
    lines = [
        "security.protocol=SASL_SSL",
        f"sasl.mechanism={MECHANISM}",
        f"sasl.jaas.config={jaas(CONNECT_USER, users[CONNECT_USER])}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={ca_file(run)}",
    ]
    return [*lines, *(f"{prefix}.{line}" for prefix in ("producer", "consumer", "admin") for line in lines)]


def client_properties(run: Path, users: dict[str, str]) -> dict[str, str]:
    """SmartSync's librdkafka security properties for the secure stack."""
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": MECHANISM,
        "sasl.username": CLIENT_USER,
        "sasl.password": users[CLIENT_USER],
        "ssl.ca.location": str(ca_file(run)),
    }


def write_client_properties(run: Path, users: dict[str, str]) -> Path:
    path = client_properties_file(run)
    body = "".join(f"{k}={v}\n" for k, v in client_properties(run, users).items())
    write_private(
        path, "# SmartSync's Kafka client security for the local stack (smartsync stack up --secure)\n" + body
    )
    return path
