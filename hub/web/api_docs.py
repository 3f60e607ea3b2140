"""The HTTP API's documentation pages: Swagger UI at /docs and ReDoc at /redoc, both from the
vendored copies (hub.web.assets) and over the hub's own /openapi.json, so they render offline.
"""

import json

from fastapi import APIRouter
from starlette.responses import HTMLResponse

from hub.web import assets
from hub.web.pages import page


def api_docs_router(openapi_url: str) -> APIRouter:
    router = APIRouter()
    data = json.dumps({"openapi": openapi_url})

    @router.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return page(
            "HTTP API",
            '<div id="swagger-ui"></div>',
            scripts=(f"{assets.SWAGGER_UI}/swagger-ui-bundle.js", "swagger.js"),
            styles=(f"{assets.SWAGGER_UI}/swagger-ui.css",),
            data=data,
        )

    @router.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return page(
            "API reference",
            '<div id="redoc"></div>',
            scripts=(f"{assets.REDOC}/redoc.standalone.js", "redoc.js"),
            data=data,
        )

    return router
