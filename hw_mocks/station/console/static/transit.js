// 在途资金: refresh the table from transit.json every 3 s (no reload, no library, no CDN)
(function () {
  "use strict";
  var table = document.getElementById("transit");
  if (!table) return;
  var src = table.getAttribute("data-src");
  var stamp = document.getElementById("updated");
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function render(data) {
    var body = table.tBodies[0];
    var forms = {};
    Array.prototype.forEach.call(body.rows, function (tr) {
      var f = tr.querySelector("form");
      if (f) forms[tr.getAttribute("data-terminal")] = f;
    });
    var seen = {};
    Array.prototype.forEach.call(body.rows, function (tr) {
      seen[tr.getAttribute("data-terminal") + "/" + (tr.cells[2] ? tr.cells[2].textContent : "")] = true;
    });
    var csrf = document.querySelector("input[name=csrf_token]");
    var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent; });
    body.textContent = "";
    data.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-terminal", r.terminal);
      if (!seen[r.terminal + "/" + r.cash]) tr.className = "fresh";
      cell(tr, r.terminal); cell(tr, r.operator || "-"); cell(tr, r.cash, "num cash"); cell(tr, String(r.count), "num");
      cell(tr, r.qr, "num"); cell(tr, r.oldest); cell(tr, r.last_sync);
      cell(tr, r.unsynced, "unsynced").title = r.reported_at;
      var td = cell(tr, "", "act");
      var f = forms[r.terminal];
      if (r.cash_fen > 0) {
        if (!f && csrf) {
          f = document.createElement("form");
          f.method = "post"; f.action = table.getAttribute("data-handin"); f.className = "handin";
          ["csrf_token", "terminal", "amount_fen"].forEach(function (n) {
            var i = document.createElement("input"); i.type = "hidden"; i.name = n; f.appendChild(i);
          });
          var note = document.createElement("input"); note.name = "note"; note.maxLength = 200;
          note.placeholder = table.getAttribute("data-note-label"); f.appendChild(note);
          var b = document.createElement("button"); b.type = "submit";
          b.textContent = table.getAttribute("data-handin-label"); f.appendChild(b);
          f.elements.csrf_token.value = csrf.value;
        }
        if (f) {
          f.elements.terminal.value = r.terminal;
          f.elements.amount_fen.value = String(r.cash_fen);
          td.appendChild(f);
        }
      }
      Array.prototype.forEach.call(tr.cells, function (c, i) { c.setAttribute("data-label", heads[i] || ""); });
      body.appendChild(tr);
    });
    document.getElementById("total-cash").textContent = data.totals.cash;
    document.getElementById("total-qr").textContent = data.totals.qr;
    if (stamp) stamp.textContent = stamp.getAttribute("data-label") + " " + data.at.substring(11, 19);
  }
  function poll() {
    fetch(src, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (r.status === 200) return r.json(); throw new Error(r.status); })
      .then(render)
      .catch(function () { if (stamp) stamp.textContent = "…"; })
      .then(function () { window.setTimeout(poll, 3000); });
  }
  var heads0 = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent; });
  Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
    Array.prototype.forEach.call(tr.cells, function (c, i) { c.setAttribute("data-label", heads0[i] || ""); });
  });
  window.setTimeout(poll, 3000);
})();
