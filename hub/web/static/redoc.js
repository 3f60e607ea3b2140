// ReDoc over the hub's OpenAPI document.
"use strict";

const data = JSON.parse(document.getElementById("page-data").textContent);
Redoc.init(data.openapi, { hideDownloadButton: false }, document.getElementById("redoc"));
