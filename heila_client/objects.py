"""The twelve information objects and the envelope as typed Python values: the plain JSON of
docs/messages.md, spelled out.

Each is a TypedDict, so a message is built from plain values with a type checker's help and
goes to `HubClient.send` as it is. References name other messages, actors, grid locations,
devices and points by id; the hub turns them into the IRIs of `heila_client.vocabulary`. A test
holds every key, every required key and every enumeration to the hub's shapes, which remain the
one source of these names.

The parts `heila_client.parts` builds to spread into an object (`EnvelopeOnly`, `WindowOnly`,
`ProductOnly`, `SeriesOnly`) are closed TypedDicts (PEP 728, hence typing_extensions): holding
no key but their own, they leave a type checker sure of every key of the object, even of an
optional one left out.
"""

from typing import Generic, Literal, NotRequired, TypeVar

from typing_extensions import TypedDict

FlexibilityType = Literal["up", "down"]
Quality = Literal["invalid", "notTopical", "overflow", "blocked", "substituted"]
Action = Literal["open", "close", "setActivePower"]
CommandState = Literal["executed", "failed", "expired"]
PriceUnit = Literal["MWH", "KWH"]
Number = int | float
Slot = TypeVar("Slot")


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


class EnvelopeOnly(Envelope, closed=True):
    """An envelope and no other key."""


class Window(TypedDict):
    """When a product is delivered or a series runs."""

    start: str
    end: str


class WindowOnly(Window, closed=True):
    """A window and no other key."""


class Product(Window):
    """What Flexibility, Offer, Bid and the notifications share: how much, which way, when."""

    flexibilityType: FlexibilityType
    power: Number


class ProductOnly(Product, closed=True):
    """A product and no other key."""


class Series(Window, Generic[Slot]):
    """Equal time slots over a window: a forecast, a plan or a verification."""

    timeStep: str
    slots: list[Slot]


class SeriesOnly(Series[Slot], closed=True):
    """A series and no other key."""


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


class OperationPlan(Envelope, Series[PlanSlot]):
    type: Literal["OperationPlan"]
    location: str


class Flexibility(Envelope, Product):
    type: Literal["Flexibility"]
    location: str
    device: NotRequired[str]
    operationPlan: NotRequired[str]


class Offer(Envelope, Product):
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


class Bid(Envelope, Product):
    type: Literal["Bid"]
    location: str
    price: Price


class WeatherForecast(Envelope, Series[WeatherSlot]):
    type: Literal["WeatherForecast"]
    location: str


class ReserveNotification(Envelope, Product):
    type: Literal["ReserveNotification"]
    price: Price
    offer: str
    bid: str


class ActivationNotification(Envelope, Product):
    type: Literal["ActivationNotification"]
    reserve: str
    device: NotRequired[str]


class VerificationNotification(Envelope, Series[VerificationSlot]):
    type: Literal["VerificationNotification"]
    activation: str
    deliveredEnergy: Number


class FlexibilityMarketPriceForecast(Envelope, Series[PriceSlot]):
    type: Literal["FlexibilityMarketPriceForecast"]
    currency: str
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
