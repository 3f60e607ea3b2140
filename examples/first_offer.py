"""An aggregator's first Offer, written with the hub's Python client (docs/client.md).

    HEILA_TOKEN=... python examples/first_offer.py [HUB_URL] [FLEXIBILITY_ID]

As the aggregator `ams-1` (HEILA_TOKEN is its bearer token), it reads the Flexibility it sells
(`flex-1` of the example story by default) from a hub (http://127.0.0.1:8000 by default),
offers all of it to the market `fmp-1` as a typed Offer, waits for the hub's log to list it,
and prints the product's chain as the named query `product-chain` answers it.
"""

import os
import sys

from heila_client import HubClient, objects, parts

AGGREGATOR = "ams-1"
MARKET = "fmp-1"


def offer_for(flexibility: parts.Message, price: parts.Price) -> objects.Offer:
    """An Offer of the whole of a Flexibility, at a price, valid until its window starts."""
    return {
        "type": "Offer",
        "id": parts.new_id("offer"),
        "sender": AGGREGATOR,
        "time": parts.rfc3339(parts.now()),
        "recipients": [MARKET],
        "references": [flexibility["id"]],
        "flexibilityType": flexibility["flexibilityType"],
        "power": flexibility["power"],
        "start": flexibility["start"],
        "end": flexibility["end"],
        "location": flexibility["location"],
        "price": price.fields(),
        "flexibility": flexibility["id"],
        "validUntil": flexibility["start"],
    }


def offer(hub: HubClient, flexibility_id: str) -> objects.Offer:
    """Post an Offer of the Flexibility and return it once the hub's log lists it."""
    sent = offer_for(hub.get(flexibility_id), parts.Price(95.5, "EUR", "MWH"))
    hub.send(sent)
    next(commit for commit in hub.follow() if commit.id == sent["id"])
    return sent


def main(url: str = "http://127.0.0.1:8000", flexibility_id: str = "flex-1") -> None:
    hub = HubClient(url, os.environ["HEILA_TOKEN"])
    try:
        sent = offer(hub, flexibility_id)
        print(f"offered {sent['power']} kW of {flexibility_id} as {sent['id']}")
        for step in hub.named("product-chain", flexibility=flexibility_id):
            print(f"{step['time']}  {step['step']:<28} {step['sender']}")
    finally:
        hub.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
