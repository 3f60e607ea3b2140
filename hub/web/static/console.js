// The SPARQL console: YASGUI on the hub's /sparql, the HEILA prefixes in the first tab and each
// named query one click from a tab of its own. Nothing is fetched from outside the hub.
"use strict";

const data = JSON.parse(document.getElementById("page-data").textContent);
const endpoint = new URL(data.endpoint, window.location.href).href;

const yasgui = new Yasgui(document.getElementById("yasgui"), {
  requestConfig: { endpoint: endpoint, method: "POST" },
  copyEndpointOnNewTab: true,
  endpointCatalogueOptions: { getData: () => [{ endpoint: endpoint }] },
  persistenceId: "heila-console",
  populateFromUrl: true,
  yasqe: {
    value: data.first,
    prefixCcApi: null,
    collapsePrefixesOnLoad: true,
    autocompleters: ["variables", "prefixes"],
    persistenceId: null,
  },
});

// the tab opened first by this browser starts with the preset prefixes
const first = yasgui.getTab();
if (first && first.getYasqe().getValue().trim() === "") {
  first.getYasqe().setValue(data.first);
}

function openQuery(name) {
  const query = data.queries[name];
  const tab = yasgui.addTab(true, {
    name: query.title,
    yasqe: { value: query.sparql },
    requestConfig: { endpoint: endpoint },
  }, { avoidDuplicateTabs: true });
  tab.show();
  return tab;
}

for (const button of document.querySelectorAll("button[data-query]")) {
  button.addEventListener("click", () => openQuery(button.dataset.query).query());
}

// A result cut at the hub's limit says so above the table, not only in a header
const notice = document.getElementById("truncated");
const watched = new WeakSet();
yasgui.on("queryBefore", (_yasgui, tab) => {
  notice.hidden = true;
  const yasqe = tab.getYasqe();
  if (watched.has(yasqe)) return;
  watched.add(yasqe);
  yasqe.on("queryResponse", (_yasqe, response) => {
    const cut = response && response.headers && response.headers.get("Heila-Truncated") === "true";
    notice.hidden = !cut;
  });
});
