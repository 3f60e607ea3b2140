// Swagger UI over the hub's OpenAPI document; "Authorize" takes an actor's bearer token.
"use strict";

const data = JSON.parse(document.getElementById("page-data").textContent);
window.ui = SwaggerUIBundle({
  url: data.openapi,
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  tryItOutEnabled: true,
  validatorUrl: null,
});
