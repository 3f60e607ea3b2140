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
