import pytest
from cryptography.exceptions import InvalidTag

from wenzhen.crypto import Keyring, KeyringError, new_key


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("WENZHEN_DATA_KEYS", f"k1:{new_key()},k2:{new_key()}")
    monkeypatch.setenv("WENZHEN_DATA_KEY_ID", "k1")
    monkeypatch.setenv("WENZHEN_INDEX_KEY", new_key())
    return monkeypatch


def test_fields_round_trip_and_hide_the_plaintext(env):
    ring = Keyring.from_env()
    sealed = ring.encrypt("13812345678", field="phone", record="pat_1")
    assert "13812345678" not in str(sealed) and sealed["kid"] == "k1"
    assert ring.decrypt(sealed, field="phone", record="pat_1") == "13812345678"
    assert ring.encrypt("13812345678", field="phone", record="pat_1") != sealed  # fresh nonce each time


def test_a_ciphertext_moved_to_another_record_or_field_does_not_decrypt(env):
    ring = Keyring.from_env()
    sealed = ring.encrypt("13812345678", field="phone", record="pat_1")
    with pytest.raises(InvalidTag):
        ring.decrypt(sealed, field="phone", record="pat_2")
    with pytest.raises(InvalidTag):
        ring.decrypt(sealed, field="name", record="pat_1")


def test_rotation_keeps_old_values_readable(env):
    old = Keyring.from_env().encrypt("x", field="f", record="r")
    env.setenv("WENZHEN_DATA_KEY_ID", "k2")
    ring = Keyring.from_env()
    assert ring.encrypt("y", field="f", record="r")["kid"] == "k2"
    assert ring.decrypt(old, field="f", record="r") == "x"


def test_blind_index_is_stable_keyed_and_separated_by_kind(env):
    ring = Keyring.from_env()
    assert ring.blind_index("phone", "13812345678") == ring.blind_index("phone", "13812345678")
    assert ring.blind_index("phone", "13812345678") != ring.blind_index("id", "13812345678")
    env.setenv("WENZHEN_INDEX_KEY", new_key())
    assert Keyring.from_env().blind_index("phone", "13812345678") != ring.blind_index("phone", "13812345678")


@pytest.mark.parametrize("var,value", [("WENZHEN_DATA_KEYS", ""), ("WENZHEN_DATA_KEYS", "k1:short"),
                                       ("WENZHEN_DATA_KEY_ID", "nope"), ("WENZHEN_INDEX_KEY", "")])
def test_missing_or_bad_keys_refuse_to_start(env, var, value):
    env.setenv(var, value)
    with pytest.raises(KeyringError):
        Keyring.from_env()
