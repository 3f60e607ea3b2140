"""Pauses between tries: short at first, doubling on failure up to a ceiling, reset on success."""

import pytest

from actors.bridge.backoff import Backoff


def test_each_failure_doubles_the_pause_up_to_the_longest() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_success_starts_again_from_the_first_pause() -> None:
    backoff = Backoff(0.5, 3.0)
    backoff.failed()
    backoff.failed()
    backoff.succeeded()
    assert backoff.failed() == 0.5


@pytest.mark.parametrize(("first", "longest"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_a_backoff_needs_a_positive_first_pause_no_longer_than_the_longest(
    first: float, longest: float
) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(first, longest)
