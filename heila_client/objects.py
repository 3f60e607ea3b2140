"""The twelve information objects and the envelope as typed Python values: the plain JSON of
docs/messages.md, spelled out.

Each is a TypedDict, so a message is built from plain values with a type checker's help and
goes to `HubClient.send` as it is. References name other messages, actors, grid locations,
devices and points by id; the hub turns them into the IRIs of `heila_client.vocabulary`. A test
holds every key, every required key and every enumeration to the hub's shapes, which remain the
one source of these names.
"""

from typing import Literal, NotRequired, TypedDict

FlexibilityType = Literal["up", "down"]
Quality = Literal["invalid", "notTopical", "overflow", "blocked", "substituted"]
Action = Literal["open", "close", "setActivePower"]
CommandState = Literal["executed", "failed", "expired"]
PriceUnit = Literal["MWH", "KWH"]
Number = int | float


class Envelope(TypedDict):
    """Who sent a message, when, to whom, and what it answers (ids, not IRIs)."""

    id: str
    sender: str
    time: str
    recipients: NotRequired[list[str]]
    references: NotRequired[list[str]]


class Price(TypedDict):
    """An amount of a currency per megawatt-hour or kilowatt-hour."""

    amount: Number
    currency: str
    per: PriceUnit


class Reading(TypedDict):
    point: str
    value: Number
    time: str
    quality: NotRequired[list[Quality]]


class PlanSlot(TypedDict):
    index: int
    power: Number


class WeatherSlot(TypedDict):
    index: int
    temperature: Number
    irradiance: Number
    windSpeed: Number


class VerificationSlot(TypedDict):
    index: int
    power: Number
    baseline: Number


class PriceSlot(TypedDict):
    index: int
    price: Number


class Entry(TypedDict):
    rank: int
    offer: str


class Product(Envelope):
    """What Flexibility, Offer, Bid and the notifications share: how much, which way, when."""

    flexibilityType: FlexibilityType
    power: Number
    start: str
    end: str


class Measurement(Envelope):
    type: Literal["Measurement"]
    readings: list[Reading]
    location: NotRequired[str]
    receivedAt: NotRequired[str]


class ControlSignal(Envelope):
    type: Literal["ControlSignal"]
    device: str
    action: Action
    setpoint: NotRequired[Number]
    activation: NotRequired[str]
    order: NotRequired[str]
    state: NotRequired[CommandState]
    sentAt: NotRequired[str]
    triedAt: NotRequired[list[str]]
    confirmedAt: NotRequired[str]
    executedAt: NotRequired[str]
    failedAt: NotRequired[str]
    failureReason: NotRequired[str]


class OperationPlan(Envelope):
    type: Literal["OperationPlan"]
    location: str
    start: str
    end: str
    timeStep: str
    slots: list[PlanSlot]


class Flexibility(Product):
    type: Literal["Flexibility"]
    location: str
    device: NotRequired[str]
    operationPlan: NotRequired[str]


class Offer(Product):
    type: Literal["Offer"]
    location: str
    price: Price
    flexibility: str
    validUntil: NotRequired[str]


class OfferList(Envelope):
    type: Literal["OfferList"]
    entries: list[Entry]
    bid: NotRequired[str]
    location: NotRequired[str]


class Bid(Product):
    type: Literal["Bid"]
    location: str
    price: Price


class WeatherForecast(Envelope):
    type: Literal["WeatherForecast"]
    location: str
    start: str
    end: str
    timeStep: str
    slots: list[WeatherSlot]


class ReserveNotification(Product):
    type: Literal["ReserveNotification"]
    price: Price
    offer: str
    bid: str


class ActivationNotification(Product):
    type: Literal["ActivationNotification"]
    reserve: str
    device: NotRequired[str]


class VerificationNotification(Envelope):
    type: Literal["VerificationNotification"]
    activation: str
    start: str
    end: str
    timeStep: str
    slots: list[VerificationSlot]
    deliveredEnergy: Number


class FlexibilityMarketPriceForecast(Envelope):
    type: Literal["FlexibilityMarketPriceForecast"]
    currency: str
    start: str
    end: str
    timeStep: str
    slots: list[PriceSlot]
    location: NotRequired[str]


InformationObject = (
    Measurement
    | ControlSignal
    | OperationPlan
    | Flexibility
    | Offer
    | OfferList
    | Bid
    | WeatherForecast
    | ReserveNotification
    | ActivationNotification
    | VerificationNotification
    | FlexibilityMarketPriceForecast
)
"""Any of the twelve; the `type` key tells which."""
