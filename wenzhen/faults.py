"""Fault injection at named points, for the failure tests (off unless asked for).

``WENZHEN_FAULTS`` holds comma-separated rules, read once per process:

* ``relay.before_publish=crash`` – the process dies (``os._exit``) after the
  outbox entry is committed and before it is published;
* ``relay.after_publish=crash`` – it dies after the broker confirmed the
  publish and before the entry is marked sent;
* ``relay.before_publish:<event type>=crash`` (and ``after_publish``) – the
  same, only for events of that type;
* ``handler:<service>.<method>=fail:N`` – that handler raises after its body
  ran (inside its transaction) on the first N attempts for each event;
  ``fail:always`` raises every time.

The points are fixed places in the shared library; production never sets the
variable. Crashes are real process deaths, so the tests see what a kill -9 does.
"""
from __future__ import annotations

import os
from collections import Counter
from functools import lru_cache

CRASH_EXIT_CODE = 70


class InjectedFault(RuntimeError):
    """Raised by a ``fail`` rule; looks like any other handler bug."""


@lru_cache(maxsize=1)
def _rules() -> dict[str, str]:
    rules = {}
    for item in os.environ.get("WENZHEN_FAULTS", "").split(","):
        if "=" in item:
            point, action = item.split("=", 1)
            rules[point.strip()] = action.strip()
    return rules


_failures: Counter = Counter()


def point(name: str, detail: str | None = None) -> None:
    """A crash point: dies here when the rule for ``name`` (or for ``name:detail``) is ``crash``."""
    rules = _rules()
    if rules.get(name) == "crash" or (detail and rules.get(f"{name}:{detail}") == "crash"):
        os._exit(CRASH_EXIT_CODE)


def maybe_fail(name: str, key: str) -> None:
    """Raise InjectedFault while the ``fail:N`` rule for ``name`` still has failures left for ``key``."""
    action = _rules().get(name)
    if not action or not action.startswith("fail:"):
        return
    budget = action.split(":", 1)[1]
    if budget == "always" or _failures[(name, key)] < int(budget):
        _failures[(name, key)] += 1
        raise InjectedFault(f"injected fault at {name}")
