// The desk page, live: every 3 s the queue and the call-takers are redrawn from
// /console/desk.json; when the user's own state or caller changes (a call put through, ended),
// the page reloads to show the screen-pop — unless they are typing a case, then it says so.
(function () {
  "use strict";
  var live = document.getElementById("desk-live");
  if (!live) { return; }
  var source = live.getAttribute("data-source");
  var state = live.getAttribute("data-state"), caller = live.getAttribute("data-caller");
  var typing = false;
  document.querySelectorAll("#desk-case textarea, #desk-case select").forEach(function (field) {
    field.addEventListener("input", function () { typing = true; });
  });

  function cell(row, text, noTranslate) {
    var td = document.createElement("td");
    td.textContent = text;
    if (noTranslate) { td.setAttribute("translate", "no"); }
    row.appendChild(td);
  }

  function clock(s) { return Math.floor(s / 60) + ":" + (s % 60 < 10 ? "0" : "") + (s % 60); }

  function redraw(data) {
    var body = document.querySelector("#waiting tbody");
    var rows = document.createDocumentFragment();
    data.waiting.forEach(function (w) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-call", w.call);
      if (w.urgent) { tr.className = "danger"; }
      cell(tr, (w.urgent ? "⚠ " : "") + w.queue); cell(tr, w.caller, true); cell(tr, clock(w.waited_s));
      rows.appendChild(tr);
    });
    if (data.waiting.length) { body.replaceChildren(rows); }
    else if (!body.querySelector("tr.empty")) { window.location.reload(); return; }
    document.getElementById("waiting-count").textContent = data.waiting.length;
    if ((data.state || "") !== state || (data.caller || "") !== caller) {
      if (typing) { document.getElementById("desk-changed").hidden = false; }
      else { window.location.reload(); }
    }
  }

  function refresh() {
    fetch(source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (r.status === 401 || r.redirected) { window.location.reload(); return null; } return r.json(); })
      .then(function (data) { if (data) { redraw(data); } })
      .catch(function () { /* the next tick tries again */ })
      .finally(function () { window.setTimeout(refresh, 3000); });
  }
  window.setTimeout(refresh, 3000);
})();
