"""The gateway's memory of verified tokens: one signature check per token for its lifetime."""
import pytest

from gateway import auth
from gateway.auth import VerifiedTokens
from wenzhen.tokens import LEEWAY_SECONDS, InvalidToken

NOW = 1_800_000_000.0


class CountingVerifier:
    def __init__(self):
        self.calls = 0

    def verify(self, token: str) -> dict:
        self.calls += 1
        if token == "bad":
            raise InvalidToken("token signature or claims invalid")
        return {"sub": "acc_1", "exp": int(NOW) + 600}


@pytest.fixture
def counting(monkeypatch) -> CountingVerifier:
    fake = CountingVerifier()
    monkeypatch.setattr(auth, "verifier", lambda: fake)
    return fake


def test_a_token_is_verified_once_while_it_is_valid(counting):
    tokens = VerifiedTokens()
    assert tokens.verify("t1", now=NOW) == tokens.verify("t1", now=NOW + 599) and counting.calls == 1
    tokens.verify("t1", now=NOW + 600 + LEEWAY_SECONDS)  # past its expiry (and the leeway): checked again
    assert counting.calls == 2


def test_a_refused_token_is_not_remembered(counting):
    tokens = VerifiedTokens()
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.verify("bad", now=NOW)
    assert counting.calls == 2


def test_the_memory_is_bounded(counting):
    tokens = VerifiedTokens(capacity=3)
    for n in range(10):
        tokens.verify(f"t{n}", now=NOW)
    assert len(tokens._claims) <= 3
