// A running job's terminal, line by line (portal/terminal.py): each line typed is sent with its
// newline to the pty inside the job's sandbox; what comes back is shown as text, its escape
// sequences dropped, never as markup. The channel's frames are api/terminal.py's.
(function () {
  "use strict";
  var ESCAPES = /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -\/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]/g;
  var MAX_SHOWN = 200000; // characters kept in the console; older ones scroll away

  function start(box) {
    var out = box.querySelector("[data-terminal-output]");
    var status = box.querySelector("[data-terminal-status]");
    var form = box.querySelector("[data-terminal-form]");
    var line = form.querySelector("input");
    var controls = form.querySelectorAll("input, button");
    var decoder = new TextDecoder("utf-8");
    var encoder = new TextEncoder();
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var query = "?cols=" + box.getAttribute("data-cols") + "&rows=" + box.getAttribute("data-rows");
    var socket = new WebSocket(scheme + window.location.host + box.getAttribute("data-terminal") + query);
    socket.binaryType = "arraybuffer";

    function enable(on) {
      controls.forEach(function (el) { el.disabled = !on; });
    }
    function show(text) {
      var shown = out.textContent + text.replace(/\r\n/g, "\n").replace(/\r/g, "").replace(ESCAPES, "");
      out.textContent = shown.length > MAX_SHOWN ? shown.slice(shown.length - MAX_SHOWN) : shown;
      out.scrollTop = out.scrollHeight;
    }
    socket.addEventListener("open", function () {
      enable(true);
      line.focus();
    });
    socket.addEventListener("message", function (event) {
      if (typeof event.data === "string") {
        var said = JSON.parse(event.data);
        if ("exit" in said) status.textContent = box.getAttribute("data-ended").replace("{code}", said.exit);
        return;
      }
      show(decoder.decode(new Uint8Array(event.data).subarray(1), { stream: true }));
    });
    socket.addEventListener("close", function () {
      enable(false);
      if (!status.textContent) status.textContent = box.getAttribute("data-failed");
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      socket.send(encoder.encode(line.value + "\n"));
      line.value = "";
    });
    form.querySelectorAll("[data-terminal-key]").forEach(function (button) {
      button.addEventListener("click", function () {
        socket.send(new Uint8Array([parseInt(button.getAttribute("data-terminal-key"), 16)]));
        line.focus();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-terminal]").forEach(start);
  });
})();
