// aisc portal: progressive enhancement only; every page works without it.
(function () {
  "use strict";
  // The language switch submits itself (no inline handlers: the CSP allows none).
  Array.prototype.forEach.call(document.querySelectorAll("select[data-submit-on-change]"),
    function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  // Live cost estimate on the application form: asks /estimate as the request changes.
  var form = document.querySelector("form[data-estimate]");
  if (!form) return;
  var out = document.getElementById("estimate");
  var timer = null;
  function value(name) {
    var el = form.elements[name];
    return el ? el.value : "";
  }
  function refresh() {
    var params = new URLSearchParams({
      kind: value("compute.kind"), gpu_model: value("compute.gpu_model"),
      gpu_cards: value("compute.gpu_cards"), gpu_hours: value("compute.gpu_hours"),
      months: value("compute.months"), preferred_start: value("compute.preferred_start")
    });
    fetch("/estimate?" + params.toString(), { headers: { "Accept": "application/json" } })
      // A refused request (422) still answers with the figures' places and a note saying why.
      .then(function (r) { return r.ok || r.status === 422 ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        ["list_value", "subsidy", "own_share", "rate"].forEach(function (key) {
          var cell = out.querySelector("[data-key=" + key + "]");
          if (cell) cell.textContent = data[key];
        });
        var note = out.querySelector("[data-key=note]");
        if (note) note.textContent = data.note || "";
      })
      .catch(function () {});
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  refresh();
})();
