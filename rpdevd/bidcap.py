"""The bid cap of a spot pod (`max_bid`, dollars per GPU per hour): may keep-alive resume it now?

Pure: the pod as last polled and its cap in, a decision out. The price compared is the one a
resume would bid (`rpdevd.api.resume_bid`'s order without an explicit bid): RunPod's
`lowestBidPriceToResume`, the spot price at which the pod can start again now, else the pod's
previous bid. Pods that are not spot, and pods without a cap, are never held back here.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpdevd.models import Pod


@dataclass(frozen=True)
class BidCheck:
    allowed: bool
    price: float | None  # per GPU per hour, what a resume would bid; None when RunPod gives none
    reason: str  # "" when allowed; else said to the user as it is


def resume_price(pod: Pod) -> float | None:
    for price in (pod.lowest_bid_to_resume, pod.bid_per_gpu):
        if price is not None and price > 0:
            return price
    return None


def check(pod: Pod, max_bid: float | None) -> BidCheck:
    if not pod.is_spot or max_bid is None:
        return BidCheck(True, resume_price(pod) if pod.is_spot else None, "")
    price = resume_price(pod)
    if price is None:
        return BidCheck(
            False, None, f"RunPod gives no spot price to compare with max_bid ${max_bid:.2f}"
        )
    if price > max_bid:
        return BidCheck(
            False, price, f"spot price ${price:.2f}/GPU/h is above max_bid ${max_bid:.2f}"
        )
    return BidCheck(True, price, "")
