/* The partners' and reviewers' pages, a little better with JavaScript (progressive
   enhancement: without it the form and the pages work as they are).
   - Uploads: several files at once, chosen or dropped on the form, each checked for size and
     type before it is sent and sent on its own with a progress bar; the answer per file.
   - Live status: while a file or a review waits ([data-vantar]), the page fetches itself every
     few seconds and replaces its live parts ([data-live]), so verdicts appear without a reload.
   Same origin only (the Content-Security-Policy allows nothing else); no library. */
(function () {
  "use strict";
  var POLL_MS = 4000;
  var polling = null;
  var sending = 0;

  function liveParts(doc) {
    return Array.prototype.slice.call(doc.querySelectorAll("[data-live][id]"));
  }

  function waiting(doc) {
    return doc.querySelector("[data-vantar]") !== null;
  }

  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        liveParts(document).forEach(function (part) {
          var next = fresh.getElementById(part.id);
          if (next && next.innerHTML !== part.innerHTML) {
            part.replaceWith(document.importNode(next, true));
          }
        });
        updateUploadList(fresh);
        if (!waiting(fresh) && sending === 0) { stopPolling(); }
      })
      .catch(function () { /* the next round tries again */ });
  }

  function startPolling() {
    if (polling === null) { polling = window.setInterval(refresh, POLL_MS); }
  }

  function stopPolling() {
    if (polling !== null) { window.clearInterval(polling); polling = null; }
  }

  // --- uploads ------------------------------------------------------------------------------

  function extension(name) {
    var dot = name.lastIndexOf(".");
    return dot < 0 ? "" : name.slice(dot).toLowerCase();
  }

  function problemOf(file, input, maxBytes) {
    var accepted = (input.getAttribute("accept") || "").split(",");
    if (file.size === 0) { return "Filen är tom."; }
    if (file.size > maxBytes) {
      return "Filen är större än " + Math.round(maxBytes / 1048576) + " MB och skickas inte. Gör bilderna mindre " +
        "eller dela upp rapporten.";
    }
    if (accepted.length && accepted[0] !== "" && accepted.indexOf(extension(file.name)) < 0) {
      return "Den här filtypen tas inte emot. Spara rapporten som Word-dokument (.docx) och ladda upp den igen.";
    }
    return null;
  }

  function messageFrom(html) {
    var doc = new DOMParser().parseFromString(html || "", "text/html");
    var found = doc.querySelector("#felruta a") || doc.querySelector("main p");
    return found ? found.textContent.trim() : "Filen kunde inte skickas. Försök igen.";
  }

  function listFor(form) {
    var list = document.getElementById("skickas");
    if (!list) {
      var heading = document.createElement("h3");
      heading.textContent = "Filer som skickas";
      list = document.createElement("ul");
      list.id = "skickas";
      list.className = "skickas";
      list.setAttribute("aria-live", "polite");
      form.appendChild(heading);
      form.appendChild(list);
    }
    return list;
  }

  function row(list, file) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    name.className = "namn";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Skickat av " + file.name);
    var state = document.createElement("span");
    state.className = "tillstand";
    state.textContent = "väntar på att skickas";
    item.appendChild(name);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(bar);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(state);
    list.appendChild(item);
    return { item: item, bar: bar, state: state };
  }

  function updateUploadList(doc) {
    document.querySelectorAll("#skickas li[data-ref]").forEach(function (item) {
      var current = doc.querySelector('li[data-ref="' + item.getAttribute("data-ref") + '"] .besked');
      if (current) { item.querySelector(".tillstand").textContent = current.textContent; }
    });
  }

  function send(form, input, file, shown) {
    return new Promise(function (done) {
      var data = new FormData();
      data.append(input.name, file, file.name);
      var piece = form.querySelector("select");
      if (piece && piece.value) { data.append(piece.name, piece.value); }
      var request = new XMLHttpRequest();
      request.open("POST", form.getAttribute("action"));
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          shown.bar.value = Math.round(100 * event.loaded / event.total);
          shown.state.textContent = "skickas (" + shown.bar.value + " %)";
        }
      });
      request.addEventListener("load", function () {
        var ref = /[?&]mottagen=([0-9a-f]+)/.exec(request.responseURL || "");
        if (request.status === 200 && ref) {
          shown.bar.value = 100;
          shown.item.setAttribute("data-ref", ref[1]);
          shown.item.className = "mottagen";
          shown.state.textContent = "mottagen, väntar på granskning";
        } else {
          shown.item.className = "avvisad";
          shown.state.textContent = "togs inte emot: " + messageFrom(request.responseText);
        }
        done();
      });
      request.addEventListener("error", function () {
        shown.item.className = "avvisad";
        shown.state.textContent = "kunde inte skickas (ingen förbindelse). Försök igen.";
        done();
      });
      request.send(data);
    });
  }

  function upload(form, input, files) {
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || Infinity;
    var list = listFor(form);
    var queue = [];
    Array.prototype.forEach.call(files, function (file) {
      var shown = row(list, file);
      var problem = problemOf(file, input, maxBytes);
      if (problem) {
        shown.item.className = "avvisad";
        shown.bar.remove();
        shown.state.textContent = "skickas inte: " + problem;
      } else {
        queue.push([file, shown]);
      }
    });
    sending += queue.length;
    startPolling();
    return queue.reduce(function (previous, next) {
      return previous.then(function () {
        return send(form, input, next[0], next[1]).then(function () { sending -= 1; });
      });
    }, Promise.resolve()).then(function () {
      input.value = "";
      return refresh();
    });
  }

  function enhance(form) {
    var input = form.querySelector("input[type=file]");
    if (!input || !window.FormData || !window.DOMParser) { return; }
    input.multiple = true;
    input.removeAttribute("required");
    var hint = document.createElement("p");
    hint.className = "hjalp slapp-hjalp";
    hint.textContent = "Du kan välja flera filer, eller dra dem hit och släppa dem i rutan.";
    input.parentNode.insertBefore(hint, input.nextSibling);
    form.classList.add("slapp");
    form.addEventListener("dragover", function (event) {
      event.preventDefault();
      form.classList.add("over");
    });
    form.addEventListener("dragleave", function () { form.classList.remove("over"); });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      form.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) { upload(form, input, event.dataTransfer.files); }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (input.files.length) { upload(form, input, input.files); } else { input.focus(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-uppladdning]").forEach(enhance);
    var summary = document.getElementById("felruta");
    if (summary) { summary.focus(); }
    if (waiting(document)) { startPolling(); }
  });
}());
