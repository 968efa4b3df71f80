"""In-memory stand-ins for unit tests of use cases: a capability's fake store keeps its state in plain attributes and
implements the capability store's named methods (``tests/unit/<service>/<capability>/fakes.py``); the transaction
it hands a use case records what was emitted and audited. Nothing here imitates MongoDB's query language: what
needs MongoDB's behaviour is tested against the real server (``tests/integration``).
"""
from __future__ import annotations

import copy
from types import SimpleNamespace


class UnsupportedByFake(Exception):
    """A use case reached past its store's methods (the raw database), which a fake does not offer."""


# the per-capability fakes (issue 11): a capability's use cases over its store's named methods ---------------------
class RecordingTx:
    """What a use case's transaction body sees in a unit test: ``emit`` and the audit log, recorded."""

    def __init__(self) -> None:
        self.emitted: list = []
        self.sequences: list[tuple[str, int | None]] = []  # (subject, the aggregate's version given, or None)
        self.audited: list[dict] = []

    def emit(self, data, subject, version=None):
        self.emitted.append((subject, data))
        self.sequences.append((subject, version))

    def __getitem__(self, name):
        from wenzhen.storage import AUDIT_LOG

        if name != AUDIT_LOG:
            raise UnsupportedByFake(f"a use case reaches {name!r} through its store's methods, not the transaction")
        return SimpleNamespace(insert_one=self.audited.append)


class FakeCapabilityStore:
    """Base of ``tests/unit/<service>/<capability>/fakes.py``: subclasses keep their state in attributes (dicts and
    lists) and implement the capability store's named methods over them. ``transact`` runs the body with a
    :class:`RecordingTx` and puts the state back when the body raises (all or nothing, like the real one);
    ``emitted`` and ``audited`` collect what committed bodies emitted and audited (and reads audit outside one)."""

    _RECORDS = ("emitted", "sequences", "audited")

    def __init__(self) -> None:
        self.emitted: list = []
        self.sequences: list[tuple[str, int | None]] = []
        self.audited: list[dict] = []

    def transact(self, body):
        saved = copy.deepcopy({k: v for k, v in vars(self).items() if k not in self._RECORDS})
        tx = RecordingTx()
        try:
            result = body(tx)
        except BaseException:
            vars(self).update(saved)
            raise
        self.emitted.extend(tx.emitted)
        self.sequences.extend(tx.sequences)
        self.audited.extend(tx.audited)
        return result

    def __getitem__(self, name):
        from wenzhen.storage import AUDIT_LOG

        if name != AUDIT_LOG:
            raise UnsupportedByFake(f"a use case reaches {name!r} through its store's methods")
        return SimpleNamespace(insert_one=self.audited.append)

    def events(self, kind) -> list:
        """The data of the committed events of one type."""
        return [data for _subject, data in self.emitted if isinstance(data, kind)]
