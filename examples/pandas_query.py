"""Load the hub's query results into pandas data frames, as CSV over plain HTTP.

    python examples/pandas_query.py [HUB_URL]

Runs the named query `merit-order` for a bid and a SPARQL query of its own (messages per type)
against
a hub (http://127.0.0.1:8000 by default; the demo's story has the bid `bid-1`) and prints
both frames. Any SELECT answers CSV when
asked with `Accept: text/csv`, from /sparql and /queries/{name} alike; a result over the hub's
limit (10,000 rows) is cut and says so in the `Heila-Truncated` header, which `load` turns
into an error rather than hand back a frame silently short (docs/dataset.md: page with
ORDER BY, LIMIT and OFFSET).
"""

import io
import sys
import urllib.parse
import urllib.request

import pandas as pd

MESSAGES_PER_TYPE = """
SELECT ?type (COUNT(?message) AS ?messages)
WHERE { ?message a ?type ; <http://smart-api.io/ontology/1.0/smartapi#generatedBy> ?sender }
GROUP BY ?type
ORDER BY DESC(?messages) ?type
"""


def load(request: urllib.request.Request) -> pd.DataFrame:
    """The CSV answer of one request as a frame; refuses a result the hub cut at its limit."""
    request.add_header("Accept", "text/csv")
    with urllib.request.urlopen(request, timeout=60) as answer:
        if answer.headers.get("Heila-Truncated") == "true":
            raise RuntimeError("the result was cut at the hub's limit: page with LIMIT/OFFSET")
        return pd.read_csv(io.BytesIO(answer.read()))


def named_query(hub: str, name: str, **parameters: str) -> pd.DataFrame:
    """A named query's rows, e.g. named_query(hub, "merit-order", bid="bid-1")."""
    query = f"?{urllib.parse.urlencode(parameters)}" if parameters else ""
    return load(urllib.request.Request(f"{hub}/queries/{name}{query}"))


def sparql(hub: str, query: str) -> pd.DataFrame:
    """Any SELECT query's rows, posted as the SPARQL 1.1 Protocol says."""
    request = urllib.request.Request(
        f"{hub}/sparql",
        data=query.encode(),
        headers={"Content-Type": "application/sparql-query"},
    )
    return load(request)


def main(hub: str, bid: str = "bid-1") -> None:
    offers = named_query(hub, "merit-order", bid=bid)
    print(f"offers for {bid}, cheapest first:")
    print(offers[["offer", "power", "pricePerMWh", "accepted"]].to_string(index=False))
    per_type = sparql(hub, MESSAGES_PER_TYPE)
    per_type["type"] = per_type["type"].str.rsplit("#", n=1).str[-1]
    print(per_type.to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
