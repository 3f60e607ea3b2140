"""The handbook in the hub: every docs/*.md as a page at /guide/{name}, and the named queries
at /guide/queries (also /queries for a browser).

The documents are written once, in Markdown, and read alike on the repository and in the hub;
links between them are rewritten to their pages here. Raw HTML in them is not passed through.
"""

from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from starlette.responses import HTMLResponse

from hub.model.resources import docs_dir
from hub.web.pages import add_page, page
from hub.web.problem import Problem
from hub.web.queries import NamedQuery, named_queries


def _guide_link(
    renderer: RendererHTML, tokens: list[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    """A link to another document (`mqtt.md`, `docs/mqtt.md#topics`) goes to its page."""
    href = str(tokens[index].attrs.get("href", ""))
    target, _, anchor = href.partition("#")
    if target.endswith(".md") and "://" not in target:
        name = Path(target).stem
        tokens[index].attrs["href"] = f"/guide/{name}" + (f"#{anchor}" if anchor else "")
    return renderer.renderToken(tokens, index, options, env)


def _markdown() -> MarkdownIt:
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    markdown.add_render_rule("link_open", _guide_link)
    return markdown


def documents() -> dict[str, Path]:
    """Every handbook document, by page name."""
    return {path.stem: path for path in sorted(docs_dir().glob("*.md"))}


@cache
def document_page(name: str) -> HTMLResponse:
    path = documents()[name]
    text = path.read_text(encoding="utf-8")
    title = next((line[2:] for line in text.splitlines() if line.startswith("# ")), name)
    return page(title, f'<div class="prose">{_markdown().render(text)}</div>')


def _query(query: NamedQuery) -> str:
    parameters = "".join(
        f"<li><code>{escape(p.name)}</code> ({escape(p.type)}): {escape(p.description)}</li>"
        for p in query.parameters
    )
    run = f"/queries/{escape(query.name)}"
    return (
        f'<div class="term" id="{escape(query.name)}"><h3>{escape(query.title)}</h3>'
        f"<p>{escape(query.description)}</p>"
        f"{f'<p>Parameters:</p><ul>{parameters}</ul>' if parameters else ''}"
        f'<p>Run: <a href="{run}">{run}</a> (JSON; CSV or TSV by <code>Accept</code>), '
        f"<code>heila query {escape(query.name)}</code>, or from the "
        f'<a href="/console">console</a>.</p><pre>{escape(query.sparql)}</pre></div>'
    )


@cache
def queries_page() -> HTMLResponse:
    queries = named_queries().values()
    contents = "".join(
        f'<li><a href="#{escape(q.name)}">{escape(q.title)}</a></li>' for q in queries
    )
    body = (
        '<div class="prose"><h1>Named queries</h1>'
        "<p>SPARQL queries kept with the hub (queries/*.rq), for researchers and for the "
        "actors themselves. Parameters are bound as typed values, never pasted as text.</p>"
        f"<ul>{contents}</ul>{''.join(_query(q) for q in queries)}</div>"
    )
    return page("Named queries", body)


def add_pages(router: APIRouter) -> None:
    """/queries for a browser: add to the app's router before the named queries' routes."""
    add_page(router, "/queries", queries_page, ("application/json",))


def guide_router() -> APIRouter:
    """/guide/queries and /guide/{name}."""
    router = APIRouter()
    router.add_api_route("/guide/queries", queries_page, include_in_schema=False)

    @router.get("/guide/{name}", include_in_schema=False)
    def guide(name: str) -> HTMLResponse:
        if name not in documents():
            raise Problem(404, "not-found", "No such page", f"there is no guide page {name!r}")
        return document_page(name)

    return router
