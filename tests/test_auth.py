"""Who may write: per-actor bearer tokens from the configuration, the writer as the sender."""

import ipaddress
import ssl
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.app import create_app
from hub.commands.cli import main
from hub.commands.server import BackgroundHub
from hub.config import ConfigError, Credential, Settings, load_settings
from hub.model.message import Message
from hub.mqtt.broker import free_port
from hub.storage.store import open_store
from hub.trust.auth import Credentials, hash_token, new_token, token_matches
from hub.trust.tls import uvicorn_options
from tests.conftest import Hub, Serve

TOKEN_FILE = """
[actors.ams-1]
token_hash = "{hash}"
"""


def weather(story: list[Message]) -> Message:
    return next(m for m in story if m.id == "weather-1")


def post(url: str, message: Message, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{url}/messages",
        content=message.serialize("application/json"),
        headers={**headers, "content-type": "application/json"},
    )


def test_a_post_without_a_token_is_401_with_a_bearer_challenge(hub: Hub, story):
    answer = post(hub.url, weather(story), {})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_post_with_a_token_nobody_holds_is_401(hub: Hub, story):
    answer = post(hub.url, weather(story), {"Authorization": f"Bearer {new_token()}"})
    assert answer.status_code == 401


def test_a_post_with_another_scheme_is_401(hub: Hub, story):
    answer = post(hub.url, weather(story), {"Authorization": f"Basic {hub.tokens['spp-1']}"})
    assert answer.status_code == 401


def test_an_actor_cannot_send_in_another_actors_name(hub: Hub, story):
    answer = post(hub.url, weather(story), hub.auth("dms-1"))
    assert answer.status_code == 403
    assert (answer.json()["field"], answer.json()["rule"]) == ("sender", "sender")
    assert httpx.get(f"{hub.url}/messages").json()["items"] == []


def test_reading_needs_no_token(hub: Hub, story):
    post(hub.url, weather(story), hub.auth("spp-1"))
    assert httpx.get(f"{hub.url}/messages/weather-1").status_code == 200


def test_a_hub_without_credentials_is_read_only(serve: Serve, mosquitto, story):
    url = serve(create_app(Settings(mqtt=mosquitto.url), open_store("memory")))
    answer = post(url, weather(story), {"Authorization": f"Bearer {new_token()}"})
    assert answer.status_code == 403
    assert answer.json()["type"].endswith("/read-only")


def test_a_token_matches_its_own_hash_only():
    token = new_token()
    assert token_matches(token, hash_token(token))
    assert not token_matches(new_token(), hash_token(token))


def test_the_hash_does_not_contain_the_token():
    token = new_token()
    assert token not in hash_token(token)


def test_one_token_hashes_differently_each_time():
    token = new_token()
    assert hash_token(token) != hash_token(token)


def test_credentials_from_the_configuration_file_name_the_actor(tmp_path: Path):
    token = new_token()
    config = tmp_path / "hub.toml"
    config.write_text(TOKEN_FILE.format(hash=hash_token(token)))
    credentials = Credentials(load_settings(config).actors)
    assert credentials.actor_for(token) == "ams-1"


def test_a_plaintext_token_in_the_configuration_is_refused(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[actors.ams-1]\ntoken = "plain"\n')
    with pytest.raises(ConfigError, match=r"actors\.ams-1"):
        load_settings(config)


def test_a_token_hash_of_the_wrong_form_is_refused():
    with pytest.raises(ConfigError, match="token_hash"):
        Credentials({"ams-1": Credential("plain-token")})


def test_without_a_configuration_file_no_actor_can_write():
    assert load_settings(None).read_only


def _certificate(
    name: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=name == issuer, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


class Authority:
    """A certificate authority of the test's own, writing PEM files into `folder`."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = self._write(
            name, _certificate(name, self.key, name, self.key), self.key
        )[0]

    def issue(self, name: str) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        return self._write(name, _certificate(name, key, self.name, self.key), key)

    def _write(
        self, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> tuple[str, str]:
        certificate_file = self.folder / f"{self.name}-{name}.pem"
        key_file = self.folder / f"{self.name}-{name}.key"
        certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return str(certificate_file), str(key_file)


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path, "actors-ca")


@pytest.fixture
def tls_hub(authority: Authority, mosquitto) -> Iterator[tuple[str, str]]:
    """A hub over HTTPS that takes client certificates from `authority`; yields its URL and
    the SPP's token. The SPP may log in by certificate or token, the DMS by token only."""
    token = new_token()
    server_certificate, server_key = authority.issue("hub")
    actors = {
        "spp-1": Credential(hash_token(token), certificate=True),
        "dms-1": Credential(hash_token(new_token())),
    }
    settings = Settings(
        mqtt=mosquitto.url,
        actors=actors,
        tls_certfile=server_certificate,
        tls_keyfile=server_key,
        tls_client_ca=authority.certificate,
    )
    app = create_app(settings, open_store("memory"))
    with BackgroundHub(app, free_port(), **uvicorn_options(settings)) as running:
        yield running.url, token


def client_context(authority: Authority, certificate: tuple[str, str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=authority.certificate)
    if certificate is not None:
        context.load_cert_chain(*certificate)
    return context


def post_over_tls(url: str, message: Message, context: ssl.SSLContext, **headers: str):
    return httpx.post(
        f"{url}/messages",
        content=message.serialize("application/json"),
        headers={"content-type": "application/json", **headers},
        verify=context,
    )


def test_over_tls_an_actor_writes_with_its_client_certificate_alone(tls_hub, authority, story):
    url, _ = tls_hub
    context = client_context(authority, authority.issue("spp-1"))
    assert post_over_tls(url, weather(story), context).status_code == 201


def test_a_certificate_is_no_credential_for_an_actor_not_configured_for_one(
    tls_hub, authority, story
):
    url, _ = tls_hub
    context = client_context(authority, authority.issue("dms-1"))
    assert post_over_tls(url, weather(story), context).status_code == 401


def test_over_tls_a_client_without_certificate_writes_with_its_token(tls_hub, authority, story):
    url, token = tls_hub
    context = client_context(authority, None)
    answer = post_over_tls(url, weather(story), context, Authorization=f"Bearer {token}")
    assert answer.status_code == 201


def test_a_certificate_from_another_authority_is_refused(tls_hub, authority, tmp_path, story):
    url, _ = tls_hub
    stranger = Authority(tmp_path, "stranger-ca")
    context = client_context(authority, stranger.issue("spp-1"))
    with pytest.raises(httpx.TransportError):
        post_over_tls(url, weather(story), context)


def test_an_actor_may_be_configured_for_certificates_only(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text("[actors.mgms-1]\ncertificate = true\n")
    assert load_settings(config).actors["mgms-1"] == Credential(certificate=True)


def test_token_command_prints_a_token_its_configuration_lines_accept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["token", "mgms-1"]) == 0
    printed = capsys.readouterr()
    token = printed.err.strip().rsplit(": ", 1)[1]
    configuration = tomllib.loads(printed.out)
    assert token_matches(token, configuration["actors"]["mgms-1"]["token_hash"])
    assert token not in printed.out  # `heila token ID >> hub.toml` writes no secret
