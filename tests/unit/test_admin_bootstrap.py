"""`make admin` refused because an admin exists says what to do instead (after `make demo` it used to say only
"The first admin exists already")."""
import pytest

from deploy import admin
from wenzhen.rpc_client import RemoteError

EXISTS = RemoteError("Conflict", "wenzhen.errors.Conflict",
                     [{"detail": "The first admin exists already; admins create further accounts."}],
                     "The first admin exists already; admins create further accounts.")


@pytest.fixture
def refused(monkeypatch, tmp_path, capsys):
    def bootstrap(*_):
        raise EXISTS

    monkeypatch.setattr(admin, "bootstrap", bootstrap)
    monkeypatch.setattr(admin, "DEMO_ADMIN_FILE", tmp_path / "demo-admin.json")

    def run() -> str:
        assert admin.main([]) == 1
        return capsys.readouterr().out

    return run


def test_after_the_demo_it_points_at_the_demo_admins_credentials(refused, tmp_path):
    (tmp_path / "demo-admin.json").write_text('{"username": "demo.admin"}')
    out = refused()
    assert "The demo created the first admin" in out and str(tmp_path / "demo-admin.json") in out
    assert "username, password, totp_secret" in out and "POST /v1/staff" in out


def test_without_the_demo_file_it_says_to_ask_an_admin(refused):
    out = refused()
    assert "ask them to create your account with POST /v1/staff" in out and "demo" not in out.split("\n", 1)[1]


def test_another_refusal_is_passed_on_as_it_is():
    other = RemoteError("InvalidInput", "wenzhen.errors.InvalidInput", [{"detail": "The username is invalid."}],
                        "The username is invalid.")
    assert admin.refusal_advice(other) == "not created: The username is invalid."
