"""The hub's configuration file: what it says and what it refuses, naming the setting."""

from pathlib import Path

import pytest

from hub.config import ConfigError, load_settings


def test_notify_payload_names_the_types_whose_notifications_carry_the_message(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[mqtt]\nnotify_payload = ["Offer", "Bid"]\n')
    assert load_settings(config).notify_payload == {"Offer", "Bid"}


def test_notify_payload_true_names_every_type(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text("[mqtt]\nnotify_payload = true\n")
    assert len(load_settings(config).notify_payload) == 12


def test_notify_payload_refuses_a_type_that_is_no_information_object(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[mqtt]\nnotify_payload = ["Offers"]\n')
    with pytest.raises(ConfigError, match=r"notify_payload names 'Offers'"):
        load_settings(config)


def test_the_query_limits_are_read_from_the_sparql_table(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text(
        "[sparql]\nmemory_mib = 256\nmax_nesting = 20\nworkers = 2\nmax_waiting = 0\n"
    )
    settings = load_settings(config)
    assert (
        settings.query_memory_mib,
        settings.query_max_nesting,
        settings.query_workers,
        settings.query_max_waiting,
    ) == (256, 20, 2, 0)


def test_a_query_limit_that_cannot_work_is_refused_by_name(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text("[sparql]\nworkers = 0\n")
    with pytest.raises(ConfigError, match="query_workers must be positive"):
        load_settings(config)


def test_service_endpoints_must_be_http_urls(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[sparql]\nservice_endpoints = ["file:///etc/passwd"]\n')
    with pytest.raises(ConfigError, match="service_endpoints holds 'file:///etc/passwd'"):
        load_settings(config)


def test_cors_origins_lists_the_browser_origins_that_may_call_the_hub(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text(
        '[http]\ncors_origins = ["http://localhost:8888", "https://yasgui.example"]\n'
    )
    assert load_settings(config).cors_origins == ("http://localhost:8888", "https://yasgui.example")


def test_no_origin_may_call_the_hub_from_a_browser_by_default():
    assert load_settings(None).cors_origins == ()


@pytest.mark.parametrize("origin", ["localhost:8888", "http://host/path", "ftp://host", ""])
def test_cors_origins_refuses_what_is_no_origin(tmp_path: Path, origin: str):
    config = tmp_path / "hub.toml"
    config.write_text(f'[http]\ncors_origins = ["{origin}"]\n')
    with pytest.raises(ConfigError, match=r"\[http\] cors_origins takes origins"):
        load_settings(config)


def test_the_mqtt_bounds_per_client_are_read_from_the_mqtt_table(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text(
        "[mqtt]\nmax_message_bytes = 2048\nmax_queued_messages = 10\n"
        "max_queued_bytes = 4096\nconnections_per_second = 3\n"
    )
    settings = load_settings(config)
    bounds = (
        settings.mqtt_max_message_bytes,
        settings.mqtt_max_queued_messages,
        settings.mqtt_max_queued_bytes,
        settings.mqtt_connections_per_second,
    )
    assert bounds == (2048, 10, 4096, 3)


@pytest.mark.parametrize(
    "key",
    ["max_message_bytes", "max_queued_messages", "max_queued_bytes", "connections_per_second"],
)
def test_an_mqtt_bound_of_zero_is_refused_naming_it(tmp_path: Path, key: str):
    config = tmp_path / "hub.toml"
    config.write_text(f"[mqtt]\n{key} = 0\n")
    with pytest.raises(ConfigError, match=f"mqtt_{key} must be positive"):
        load_settings(config)


def test_an_empty_mqtt_client_id_is_refused(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[mqtt]\nclient_id = ""\n')
    with pytest.raises(ConfigError, match="client_id must not be empty"):
        load_settings(config)


def test_an_embedded_broker_over_tls_needs_the_hubs_certificate(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("[mqtt]\nembedded_tls = true\n")
    with pytest.raises(ConfigError, match=r"embedded_tls needs \[tls\] certfile and keyfile"):
        load_settings(config)
