"""The HEILA hub's Python client: typed information objects and a client of the hub's HTTP API.

    from heila_client import HubClient, objects, parts

- `objects`: the twelve information objects and the envelope as TypedDicts, the plain JSON of
  docs/messages.md, which the hub takes as it is;
- `parts`: the envelope, windows, products, prices and series built as those typed values, and
  read from the plain JSON the hub gives back;
- `vocabulary`: the namespaces and the IRIs of messages, their parts, actors, grid locations,
  devices and points, for those who write JSON-LD or Turtle;
- `HubClient`: post a message, read one, run a named query or any SELECT, read and follow the
  log. The platform's own actors use nothing else to speak to the hub.

It needs only httpx and typing-extensions: a program using it pulls in none of the hub's
service.
"""

from heila_client.hub import HubClient, Refused, Unavailable
from heila_client.log import Commit

__all__ = ["Commit", "HubClient", "Refused", "Unavailable"]
