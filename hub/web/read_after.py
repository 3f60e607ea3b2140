"""Reading one's own writes across a cluster's nodes: a request may ask a node to have applied
the commit log as far as a write it was answered elsewhere, and every answer says how far its
node has applied."""

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from hub.cluster.node import ClusterNode
from hub.model.errors import NotApplied
from hub.web.problem import Problem, bad_parameter, problem_of

MIN_SEQUENCE = "heila-min-sequence"
"""The request header that makes a read wait until the node has applied that far."""
APPLIED_SEQUENCE = "heila-applied-sequence"
"""The response header saying how far the answering node has applied the log."""


class ReadAfter:
    """Makes a request with `Heila-Min-Sequence: N` wait until the node has applied entry N,
    and tells in every answer's `Heila-Applied-Sequence` how far the node has applied (no such
    header while the node has not reached the log)."""

    def __init__(self, app: ASGIApp, node: ClusterNode, waited: float) -> None:
        self.app = app
        self._node = node
        self._waited = waited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted = dict(scope.get("headers", ())).get(MIN_SEQUENCE.encode())
        if scope["type"] == "http" and wanted is not None:
            refusal = await self._refusal(wanted)
            if refusal is not None:
                await refusal.response(scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, self._telling_applied(send))

    def _telling_applied(self, send: Send) -> Send:
        async def telling(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start" and self._node.reached:
                applied = (APPLIED_SEQUENCE.encode(), str(self._node.applied).encode())
                message = {**message, "headers": [*message.get("headers", ()), applied]}
            await send(message)

        return telling

    async def _refusal(self, wanted: bytes) -> Problem | None:
        if not wanted.isdigit():
            return bad_parameter(MIN_SEQUENCE, "type", f"{MIN_SEQUENCE} is a sequence number")
        if not await self._node.wait_for(int(wanted)):
            return problem_of(NotApplied(int(wanted), self._waited, MIN_SEQUENCE))
        return None
