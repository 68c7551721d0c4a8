// The live board: fetch /console/board.json every 3 seconds and redraw both tables.
(function () {
  "use strict";
  var board = document.querySelector(".board");
  if (!board) { return; }
  var source = board.getAttribute("data-source");
  var empty = document.getElementById("no-calls").innerHTML;
  var seen = {};

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "-" : String(text);
    row.appendChild(td);
  }

  function seconds(value) {
    if (value === null || value === undefined) { return "-"; }
    var m = Math.floor(value / 60), s = value % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function fill(id, calls) {
    var body = document.querySelector("#" + id + " tbody");
    var rows = document.createDocumentFragment();
    if (!calls.length) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      tr.className = "empty"; td.colSpan = 7; td.innerHTML = empty; tr.appendChild(td); rows.appendChild(tr);
    }
    calls.forEach(function (call) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-sid", call.sid);
      if (!seen[id + call.sid]) { tr.className = "new"; seen[id + call.sid] = true; }
      [call.started, call.caller, call.status, call.branch, call.classification, call.answered_by,
       seconds(call.duration)].forEach(function (text) { cell(tr, text); });
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
  }

  function refresh() {
    fetch(source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.redirected) { window.location.reload(); return null; }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        fill("live", data.live);
        fill("recent", data.recent);
        document.getElementById("live-count").textContent = data.live.length;
        document.getElementById("clock").textContent = data.now;
        var urgent = document.getElementById("urgent-callbacks");
        if (urgent && typeof data.urgent_callbacks === "number") {
          document.getElementById("urgent-count").textContent = data.urgent_callbacks;
          urgent.hidden = data.urgent_callbacks === 0;
        }
      })
      .catch(function () { /* the next tick tries again */ })
      .finally(function () { window.setTimeout(refresh, 3000); });
  }
  refresh();
})();
