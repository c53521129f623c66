// AICC portal: small behaviours on top of the server-rendered pages. No inline scripts run
// (the pages' Content-Security-Policy forbids them); htmx does the live updates.
(function () {
  "use strict";

  var STATE_COLORS = {
    pending: "#f59e0b",
    admitted: "#eab308",
    scheduled: "#60a5fa",
    running: "#3b82f6",
    preempted: "#f97316",
    succeeded: "#22c55e",
    failed: "#ef4444",
    cancelled: "#98a2b3",
  };

  // Times are rendered in UTC; show them in the reader's own time zone.
  function localTimes(root) {
    var lang = document.documentElement.lang || "en";
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      var clock = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
      el.textContent = el.getAttribute("data-local") === "time"
        ? when.toLocaleTimeString(lang, clock)
        : when.toLocaleString(lang, Object.assign({ year: "numeric", month: "2-digit", day: "2-digit" }, clock));
      el.title = el.getAttribute("datetime");
    });
  }

  function charts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (window.echarts.getInstanceByDom(el)) return;
      var data = JSON.parse(el.getAttribute("data-chart"));
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption({
        animation: false,
        grid: { left: 8, right: 36, top: 4, bottom: 4, containLabel: true },
        tooltip: { trigger: "item" },
        yAxis: {
          type: "category",
          inverse: true,
          data: data.labels,
          axisTick: { show: false },
          axisLine: { lineStyle: { color: "#cdd2df" } },
          axisLabel: { color: "#344054", fontSize: 13 },
        },
        xAxis: {
          type: "value",
          minInterval: 1,
          axisLabel: { color: "#5b6478" },
          splitLine: { lineStyle: { color: "#eceef4" } },
        },
        series: [{
          type: "bar",
          barMaxWidth: 18,
          label: { show: true, position: "right", color: "#1b2233", fontWeight: 600 },
          data: data.values.map(function (value, i) {
            return {
              value: value,
              itemStyle: { color: STATE_COLORS[data.states[i]] || "#4338ca", borderRadius: [0, 4, 4, 0] },
            };
          }),
        }],
      });
      el.setAttribute("data-chart-ready", "true");
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  function init(root) {
    localTimes(root);
    charts(root);
    root.querySelectorAll("pre[data-follow]").forEach(function (pre) {
      pre.scrollTop = pre.scrollHeight;
    });
  }

  // Polling pauses while the tab is hidden, and while focus is inside the region being
  // refreshed, so a keyboard user or someone selecting log text does not lose their place.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var trigger = elt.getAttribute("hx-trigger") || "";
    if (trigger.indexOf("every") !== 0) return;
    var focused = document.activeElement;
    if (document.hidden || (focused && focused !== document.body && elt.contains(focused))) {
      event.preventDefault();
    }
  });

  // Keep a log scrolled where the reader left it; follow the end if they were at the end.
  var logScroll = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var pre = event.detail.target.querySelector && event.detail.target.querySelector("pre[data-follow]");
    logScroll = pre ? { top: pre.scrollTop, atEnd: pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8 } : null;
  });
  document.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt;
    localTimes(root);
    charts(root);
    var pre = root.querySelector && root.querySelector("pre[data-follow]");
    if (pre && logScroll && !logScroll.atEnd) {
      pre.scrollTop = logScroll.top;
    } else if (pre) {
      pre.scrollTop = pre.scrollHeight;
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
