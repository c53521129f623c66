// A running job's terminal (portal/terminal.py), drawn by xterm.js: every key goes to the pty
// inside the job's sandbox as the bytes a terminal sends (Ctrl-C is \x03, arrows are escape
// sequences), and what the command writes is handed to xterm as bytes, unmodified, so that
// full-screen programs (less, vi, top) work. The channel's frames are api/terminal.py's, the same
// as `aicc job exec`'s (aicc/cli/execs.py): binary frames for the bytes, one stream byte first on
// the way down; text frames for control, `{"resize": [cols, rows]}` up and `{"exit": N}` down.
// xterm only ever writes the output as text into its own rows, never as markup.
(function () {
  "use strict";

  function start(box) {
    var screen = box.querySelector("[data-terminal-screen]");
    var status = box.querySelector("[data-terminal-status]");
    var keys = box.querySelectorAll("[data-terminal-key]");
    if (!window.Terminal || !window.FitAddon) {
      status.textContent = box.getAttribute("data-failed");
      return;
    }
    var term = new window.Terminal({
      cursorBlink: true,
      scrollback: 5000,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace",
      fontSize: 14,
      lineHeight: 1.15, // room for an underscore below the baseline
      theme: { background: "#0f172a", foreground: "#e2e8f0" }, // the log's colours (portal.css)
      minimumContrastRatio: 4.5, // WCAG AA: a program's dark red on the dark screen is lightened
    });
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(screen);
    screen.terminal = term; // for the page's tests (tests/portal/test_portal_exec_browser.py)
    fit.fit();

    var encoder = new TextEncoder();
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + box.getAttribute("data-terminal"));
    socket.binaryType = "arraybuffer";

    function send(bytes) {
      if (socket.readyState === WebSocket.OPEN) socket.send(bytes);
    }
    function resize() {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ resize: [term.cols, term.rows] }));
      }
    }
    function enable(on) {
      keys.forEach(function (el) { el.disabled = !on; });
      term.options.disableStdin = !on;
      term.options.cursorBlink = on;
    }

    // Typed text is UTF-8; a binary string (xterm's legacy mouse reports) is bytes already.
    term.onData(function (data) { send(encoder.encode(data)); });
    term.onBinary(function (data) {
      var bytes = new Uint8Array(data.length);
      for (var i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      send(bytes);
    });
    term.onResize(resize); // the pty learns the size (TIOCSWINSZ), its program gets SIGWINCH
    window.addEventListener("resize", function () { fit.fit(); });

    socket.addEventListener("open", function () {
      enable(true);
      resize();
      box.setAttribute("data-terminal-state", "open");
      term.focus();
    });
    socket.addEventListener("message", function (event) {
      if (typeof event.data === "string") {
        var said = JSON.parse(event.data);
        if ("exit" in said) status.textContent = box.getAttribute("data-ended").replace("{code}", said.exit);
        return;
      }
      term.write(new Uint8Array(event.data).subarray(1));
    });
    socket.addEventListener("close", function () {
      enable(false);
      box.setAttribute("data-terminal-state", "closed");
      if (!status.textContent) status.textContent = box.getAttribute("data-failed");
    });
    // For a screen without Ctrl (a phone): the two keys a shell needs most, as buttons.
    keys.forEach(function (button) {
      button.addEventListener("click", function () {
        send(new Uint8Array([parseInt(button.getAttribute("data-terminal-key"), 16)]));
        term.focus();
      });
    });
    enable(false);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-terminal]").forEach(start);
  });
})();
