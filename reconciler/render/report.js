(function () {
  "use strict";
  // The filter of the status table: every word typed must appear in a row's record (name,
  // kind, identity, file) or in one of its states. Without JavaScript the box stays hidden
  // and every row is shown.
  var box = document.getElementById("filter-box");
  var input = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var table = document.getElementById("matrix");
  if (!box || !input || !shown || !table) {
    return;
  }
  var blocks = Array.prototype.slice.call(table.tBodies);
  var rows = [];
  var blockOf = [];
  blocks.forEach(function (block, b) {
    for (var i = 0; i < block.rows.length; i++) {
      rows.push(block.rows[i]);
      blockOf.push(b);
    }
  });
  var visible = rows.map(function () { return true; });
  var texts = null;
  var sizes = blocks.map(function () { return 0; }); // the shown rows each block holds room for
  var last = "";
  box.hidden = false;

  function index() {
    if (texts !== null) {
      return;
    }
    texts = new Array(rows.length);
    for (var i = 0; i < rows.length; i++) {
      var cells = rows[i].cells;
      var record = cells[0].querySelector(".r");
      var text = record ? record.textContent : cells[0].textContent;
      for (var j = 1; j < cells.length; j++) {
        text += " " + cells[j].textContent;
      }
      texts[i] = text.toLowerCase();
    }
  }

  function apply() {
    var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var key = terms.join(" ");
    if (key === last) {
      return;
    }
    last = key;
    index();
    var count = 0;
    var perBlock = blocks.map(function () { return 0; });
    var wanted = new Array(rows.length);
    for (var i = 0; i < rows.length; i++) {
      var text = texts[i];
      var match = true;
      for (var k = 0; k < terms.length && match; k++) {
        match = text.indexOf(terms[k]) !== -1;
      }
      wanted[i] = match;
      if (match) {
        count++;
        perBlock[blockOf[i]]++;
      }
    }
    // A block without a shown row is hidden whole (its rows are left as they are); a block
    // off screen is not laid out: it holds the room its shown rows would take, not the room
    // it took when last drawn under another filter.
    for (var r = 0; r < rows.length; r++) {
      if (perBlock[blockOf[r]] && visible[r] !== wanted[r]) {
        visible[r] = wanted[r];
        rows[r].hidden = !wanted[r];
      }
    }
    blocks.forEach(function (block, b) {
      var n = perBlock[b];
      if (block.hidden !== (n === 0)) {
        block.hidden = n === 0;
      }
      if (n && sizes[b] !== n) {
        sizes[b] = n;
        block.style.containIntrinsicSize = (n * 5.2).toFixed(1) + "rem";
      }
    });
    shown.textContent = terms.length
      ? count + " of " + rows.length + (rows.length === 1 ? " record" : " records")
      : "";
  }

  input.addEventListener("input", apply);
  input.addEventListener("focus", index);
  // The search text is gathered once the page has shown, before anyone types.
  window.addEventListener("load", function () {
    setTimeout(index, 0);
  });
  if (input.value) {
    apply(); // a value the browser kept from before a reload
  }
})();
