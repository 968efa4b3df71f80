"""The gateway's per-caller request budget (token bucket)."""
from __future__ import annotations

from gateway.budget import Budget, retry_after


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_caller_gets_the_budget_then_waits_for_it_to_refill():
    clock = Clock()
    budget = Budget(per_minute=60, clock=clock)  # one a second
    assert [budget.take("acc_1") for _ in range(60)] == [0.0] * 60
    wait = budget.take("acc_1")
    assert 0.99 < wait <= 1.0 and retry_after(wait) == "1"
    assert budget.take("acc_2") == 0.0  # callers are counted apart
    clock.now += 1.0
    assert budget.take("acc_1") == 0.0  # refilled by one
    assert budget.take("acc_1") > 0


def test_refill_never_exceeds_the_budget():
    clock = Clock()
    budget = Budget(per_minute=10, clock=clock)
    budget.take("ip:10.0.0.1")
    clock.now += 3600
    assert sum(budget.take("ip:10.0.0.1") == 0.0 for _ in range(20)) == 10


def test_a_zero_budget_means_no_limit():
    budget = Budget(per_minute=0)
    assert all(budget.take("anyone") == 0.0 for _ in range(10_000))


def test_the_origin_factor_scales_the_budget_of_callers_without_a_token_only():
    clock = Clock()
    budget = Budget(per_minute=10, clock=clock, origin_factor=3)
    assert sum(budget.take("ip:10.0.0.1") == 0.0 for _ in range(100)) == 30
    assert sum(budget.take("acc_1") == 0.0 for _ in range(100)) == 10  # accounts keep GATEWAY_REQUESTS_PER_MINUTE
    lifted = Budget(per_minute=10, clock=clock, origin_factor=0)
    assert all(lifted.take("ip:10.0.0.1") == 0.0 for _ in range(1000))
    assert sum(lifted.take("acc_1") == 0.0 for _ in range(100)) == 10
