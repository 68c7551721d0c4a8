// The live board: fetch /console/board.json every 3 seconds and redraw the danger panel and
// both tables. Every word comes from the server in the page's language; this only places it.
(function () {
  "use strict";
  var board = document.querySelector(".board");
  if (!board) { return; }
  var source = board.getAttribute("data-source");
  var empty = document.getElementById("no-calls").innerHTML;
  var calm = document.getElementById("no-danger").innerHTML;
  var itemTemplate = document.getElementById("danger-item");
  var sound = document.getElementById("sound");
  var seen = {}, dangerSeen = null, audio = null;

  // The audible cue: off until the user switches it on (a browser plays sound only after a
  // gesture); the choice is remembered on this computer.
  sound.checked = window.localStorage.getItem("hotline.sound") === "on";
  sound.addEventListener("change", function () {
    window.localStorage.setItem("hotline.sound", sound.checked ? "on" : "off");
    if (sound.checked) { beep(); }
  });

  function beep() {
    if (!sound.checked) { return; }
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.35].forEach(function (start) {
        var tone = audio.createOscillator(), gain = audio.createGain();
        tone.frequency.value = 880;
        gain.gain.setValueAtTime(0.25, audio.currentTime + start);
        gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + start + 0.3);
        tone.connect(gain); gain.connect(audio.destination);
        tone.start(audio.currentTime + start); tone.stop(audio.currentTime + start + 0.3);
      });
    } catch (e) { /* no audio here: the panel still shows it */ }
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "-" : String(text);
    if (className) { td.className = className; }
    row.appendChild(td);
    return td;
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
      var tr = document.createElement("tr"), classes = [];
      tr.setAttribute("data-sid", call.sid);
      tr.setAttribute("data-stage", call.stage);
      if (call.danger) { classes.push("danger"); }
      if (!seen[id + call.sid]) { classes.push("new"); seen[id + call.sid] = true; }
      tr.className = classes.join(" ");
      cell(tr, call.started);
      cell(tr, call.caller);
      var stage = cell(tr, call.stage_label, "stage");
      if (call.danger) { stage.textContent = "⚠ " + call.stage_label; }
      cell(tr, call.route || call.branch);
      cell(tr, call.classification);
      cell(tr, call.answered_by);
      cell(tr, seconds(call.duration));
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
  }

  function fillDanger(entries) {
    var list = document.getElementById("danger-list");
    var items = document.createDocumentFragment(), ids = {}, fresh = false;
    document.getElementById("danger-count").textContent = entries.length;
    document.getElementById("danger").classList.toggle("active", entries.length > 0);
    if (!entries.length) {
      var li = document.createElement("li"); li.className = "calm"; li.innerHTML = calm; items.appendChild(li);
    }
    entries.forEach(function (entry) {
      var li = itemTemplate.content.firstElementChild.cloneNode(true);
      li.setAttribute("data-alert", entry.id);
      li.setAttribute("data-priority", entry.priority);
      li.querySelector("time").textContent = entry.when;
      li.querySelector(".what").textContent = entry.text;
      var about = li.querySelector(".about");
      if (entry.case_url) {
        var link = document.createElement("a");
        link.href = entry.case_url; link.textContent = entry.case; about.appendChild(link);
      }
      var words = [entry.route, entry.caller].filter(Boolean).join(" · ");
      if (words) { about.appendChild(document.createTextNode((entry.case_url ? " · " : "") + words)); }
      var back = li.querySelector(".call-back");
      if (entry.call_back_url) { back.href = entry.call_back_url; } else { back.remove(); }
      li.querySelector("form.acknowledge").action = entry.acknowledge_url;
      items.appendChild(li);
      ids[entry.id] = true;
      if (dangerSeen !== null && !dangerSeen[entry.id]) { fresh = true; }
    });
    list.replaceChildren(items);
    if (fresh) { beep(); }
    dangerSeen = ids;
  }

  function refresh() {
    fetch(source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.redirected) { window.location.reload(); return null; }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        fillDanger(data.danger);
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
