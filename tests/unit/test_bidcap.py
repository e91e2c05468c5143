"""The bid cap: keep-alive resumes a spot pod only at or below its max_bid, per GPU per hour."""

import pytest

from rpdevd.bidcap import check
from rpdevd.models import Pod


def spot(lowest: float | None, cost: float | None = 0.8, gpus: int = 2) -> Pod:
    return Pod.from_api(
        {
            "id": "abc",
            "name": "s",
            "desiredStatus": "EXITED",
            "podType": "INTERRUPTABLE",
            "gpuCount": gpus,
            "costPerHr": cost,
            "lowestBidPriceToResume": lowest,
        }
    )


def test_the_spot_price_to_resume_is_compared_per_gpu() -> None:
    assert check(spot(0.40), 0.40).allowed  # at the cap: allowed
    above = check(spot(0.41), 0.40)
    assert (above.allowed, above.price) == (False, 0.41)
    assert above.reason == "spot price $0.41/GPU/h is above max_bid $0.40"


def test_without_a_spot_price_the_last_bid_is_compared_and_without_either_nothing_is() -> None:
    assert check(spot(None, cost=0.8, gpus=2), 0.40).allowed  # 0.40 per GPU, as last billed
    assert not check(spot(None, cost=1.0, gpus=2), 0.40).allowed
    unknown = check(spot(None, cost=None), 0.40)
    assert not unknown.allowed and "no spot price" in unknown.reason


@pytest.mark.parametrize("max_bid", [None, 0.01])
def test_no_cap_or_an_on_demand_pod_is_never_held_back(max_bid: float | None) -> None:
    on_demand = Pod.from_api({"id": "abc", "podType": "RESERVED", "costPerHr": 9.0})
    assert check(on_demand, max_bid).allowed
    assert check(spot(5.0), None).allowed
