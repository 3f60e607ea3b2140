"""How a hub node reads NATS streams: the consumer the nodes share, and the loops that read
(the log, the notifications, the inbox), each of which must outlive a NATS server going away,
a consumer lost and any one entry's failure, or the node silently stops doing its share."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

log = logging.getLogger(__name__)

IDLE = 1.0
"""Seconds a loop waits for something new, and pauses after a failure."""


async def shared_consumer(
    js: JetStreamContext,
    stream: str,
    subject: str,
    durable: str,
    ack_wait: float,
    in_flight: int | None = None,
) -> JetStreamContext.PullSubscription:
    """A durable pull consumer that every node binds to, so JetStream hands each entry to one
    of them and, unacknowledged after `ack_wait` seconds, to another; `in_flight`: most entries
    handed out and not yet acknowledged, cluster-wide (None: NATS's default, 1,000)."""
    return await js.pull_subscribe(
        subject,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_ack_pending=in_flight,
        ),
    )


async def keep_running(serve: Callable[[], Awaitable[None]], what: Callable[[], str]) -> None:
    """Await `serve()` again and again, forever; `what` names the loop in the log."""
    while True:
        try:
            await serve()
        except (nats.errors.Error, nats.js.errors.Error) as error:
            log.warning("%s: %s; again", what(), error)
            await asyncio.sleep(IDLE)
        except Exception:  # the loop must outlive any one failure
            log.exception("%s failed; again", what())
            await asyncio.sleep(IDLE)
