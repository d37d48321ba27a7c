// Live delivery status on a message's page: polls the JSON status while deliveries are under
// way and updates the table in place (text only). Without JavaScript the page shows the same
// table, and a refresh link.
(function () {
  "use strict";
  var table = document.getElementById("deliveries");
  if (!table || table.getAttribute("data-settled") === "true") { return; }
  var url = table.getAttribute("data-status-url");
  function apply(data) {
    data.rows.forEach(function (row) {
      var tr = table.querySelector('tr[data-key="' + row.key + '"]');
      if (!tr) { return; }
      tr.className = "st-" + row.state;
      tr.querySelector(".status").textContent = row.status;
      tr.querySelector(".detail").textContent = row.detail;
    });
    var seen = document.getElementById("seen-count");
    if (seen) { seen.textContent = String(data.seen); }
    if (data.settled) {
      table.setAttribute("data-settled", "true");
      var note = document.getElementById("live-note");
      if (note) { note.hidden = true; }
    }
    return data.settled;
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && !apply(data)) { window.setTimeout(poll, 1500); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
