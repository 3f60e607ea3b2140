"""The shapes of a modelled day: a bell around an hour, and the weather and prices built from it.

Deterministic on purpose: a demo or a test that runs twice tells the same story.
"""

import math


def bell(hour: float, peak: float, width: float) -> float:
    """1 at `peak`, falling off over about `width` hours on either side."""
    return math.exp(-(((hour - peak) / width) ** 2))


def irradiance(hour: float) -> float:
    """Global horizontal irradiance (W/m²) of a clear winter day, peaking after noon."""
    value = 850.0 * bell(hour, 12.5, 2.8)
    return value if value >= 1.0 else 0.0


def temperature(hour: float) -> float:
    """Air temperature (°C): coldest before dawn, warmest at three in the afternoon."""
    return -4.0 + 3.0 * math.cos(2 * math.pi * (hour - 15.0) / 24.0)


def wind_speed(hour: float) -> float:
    """Wind speed (m/s) at hub height, a little stronger by day."""
    return 4.0 + 1.5 * math.sin(2 * math.pi * hour / 24.0)


def flexibility_price(hour: float) -> float:
    """Flexibility market price (EUR/MWh): a morning bump and the evening peak."""
    return 55.0 + 20.0 * bell(hour, 8.0, 1.5) + 65.0 * bell(hour, 18.5, 1.8)
