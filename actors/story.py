"""The story of one product as a person reads it: its chain of messages, and what it came to.

Told from the hub's named queries `product-chain` (each message, its sender and time) and
`chain-timing` (the time since the Flexibility and since the step before), with the recipients
read from each message. Messages are read back loosely, as plain JSON.
"""

from collections.abc import Sequence
from typing import Any

from heila_client.hub import HubClient
from heila_client.parts import Message, moment, span

HEADER = ("step", "message", "from → to", "time (UTC)", "since flexibility", "since previous")


def flexibility_of(hub: HubClient, verified: Message) -> str:
    """Back along the chain: verification → activation → reserve → offer → flexibility."""
    activation = hub.get(verified["activation"])
    reserve = hub.get(activation["reserve"])
    return str(hub.get(reserve["offer"])["flexibility"])


def seconds(duration: str) -> str:
    """An xsd:dayTimeDuration as signed seconds, e.g. +0.021 s; empty stays empty."""
    if not duration:
        return ""
    sign = -1 if duration.startswith("-") else 1
    return f"{sign * span(duration.lstrip('-')).total_seconds():+.3f} s"


def table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def chain(hub: HubClient, verified: Message) -> str:
    """The product's chain as a table: each message, who sent it to whom, and when."""
    flexibility = flexibility_of(hub, verified)
    steps = hub.named("product-chain", flexibility=flexibility)
    timing = {row["message"]: row for row in hub.named("chain-timing", flexibility=flexibility)}
    rows = [HEADER]
    for step in steps:
        identifier = step["message"].rsplit("/", 1)[-1]
        sent = hub.get(identifier)
        times: dict[str, Any] = timing.get(step["message"], {})
        rows.append(
            (
                step["step"],
                identifier,
                f"{sent['sender']} → {', '.join(sent['recipients']) or '(record)'}",
                moment(step["time"]).strftime("%H:%M:%S.%f")[:-3],
                seconds(times.get("sinceFlexibility", "")),
                seconds(times.get("sincePrevious", "")),
            )
        )
    return table(rows)


def outcome(hub: HubClient, verified: Message) -> str:
    """What the DSO asked for, what the market could offer, and what was delivered."""
    activation = hub.get(verified["activation"])
    reserve = hub.get(activation["reserve"])
    bid = hub.get(reserve["bid"])
    offer_list = hub.get(reserve["references"][0])
    offers = len(hub.listed(type="Offer"))
    hours = (moment(activation["end"]) - moment(activation["start"])).total_seconds() / 3600
    promised = float(activation["power"]) * hours
    delivered = float(verified["deliveredEnergy"])
    ceiling, price = bid["price"], reserve["price"]
    return (
        f"the DSO bid for {bid['power']} kW {bid['flexibilityType']} at most "
        f"{ceiling['amount']} {ceiling['currency']}/{ceiling['per']}; "
        f"{len(offer_list['entries'])} of {offers} offers could serve it\n"
        f"reserved {reserve['power']} kW at {price['amount']} {price['currency']}/{price['per']}; "
        f"delivered {delivered * 1000:.1f} Wh of {promised * 1000:.1f} Wh promised "
        f"({delivered / promised:.0%}) in a {hours * 3600:.1f} s window"
    )
