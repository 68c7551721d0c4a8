// The desk page's browser phone: Twilio's Voice JS SDK (served by the app, vendor/), registered
// with an access token the app issues; the desk's offers ring it as `client:<login>`.
(function () {
  "use strict";
  var card = document.getElementById("browser-phone");
  if (!card || card.getAttribute("data-configured") !== "yes" || !window.Twilio) { return; }
  var state = document.getElementById("phone-state");
  var on = document.getElementById("phone-on");
  var answer = document.getElementById("phone-answer");
  var hangup = document.getElementById("phone-hangup");
  var device = null, current = null;

  function show(which) { state.textContent = state.getAttribute("data-" + which); state.setAttribute("data-now", which); }

  function token() {
    return fetch(card.getAttribute("data-token"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("token " + r.status); } return r.json(); });
  }

  on.addEventListener("click", function () {
    on.disabled = true;
    token().then(function (t) {
      device = new window.Twilio.Device(t.token, { closeProtection: true });
      device.on("registered", function () { show("ready"); });
      device.on("error", function () { show("failed"); });
      device.on("tokenWillExpire", function () { token().then(function (n) { device.updateToken(n.token); }); });
      device.on("incoming", function (call) {
        current = call; show("ringing"); answer.hidden = false; hangup.hidden = false;
        call.on("disconnect", function () { current = null; show("ready"); answer.hidden = true; hangup.hidden = true; });
        call.on("cancel", function () { current = null; show("ready"); answer.hidden = true; hangup.hidden = true; });
      });
      return device.register();
    }).catch(function () { show("failed"); on.disabled = false; });
  });
  answer.addEventListener("click", function () { if (current) { current.accept(); show("talking"); answer.hidden = true; } });
  hangup.addEventListener("click", function () { if (current) { current.disconnect(); } });
})();
