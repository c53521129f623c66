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

  var PALETTE = ["#4338ca", "#0ea5e9", "#16a34a", "#d97706", "#db2777", "#7c3aed"];
  var AXIS = {
    axisLine: { lineStyle: { color: "#cdd2df" } },
    axisLabel: { color: "#344054" },
    splitLine: { lineStyle: { color: "#eceef4" } },
  };

  function valueAxis(data) {
    var axis = Object.assign({ type: "value" }, AXIS);
    if (data.integer) axis.minInterval = 1;
    if (data.max) axis.max = data.max;
    if (data.unit) axis.axisLabel = Object.assign({}, AXIS.axisLabel, { formatter: "{value}" + (data.unit === "%" ? "%" : "") });
    return axis;
  }

  // Bars per category (tenants, models); series with the same `stack` are stacked.
  function barOption(data) {
    return {
      animation: false,
      color: PALETTE,
      grid: { left: 8, right: 16, top: data.legend === false ? 12 : 36, bottom: 8, containLabel: true },
      legend: { show: data.legend !== false, top: 0, textStyle: { color: "#344054" } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: Object.assign({ type: "category", data: data.categories, axisTick: { show: false } }, AXIS,
        { axisLabel: { color: "#344054", interval: 0, hideOverlap: true } }),
      yAxis: valueAxis(data),
      series: data.series.map(function (s) {
        var item = { name: s.name, type: "bar", barMaxWidth: 36, data: s.values, stack: s.stack || null };
        if (s.pattern) item.itemStyle = { color: "#a78bfa", decal: { symbol: "rect", dashArrayX: [1, 0], dashArrayY: [3, 3], rotation: -Math.PI / 4, color: "rgba(255,255,255,0.55)" } };
        return item;
      }),
    };
  }

  // Lines over time: `times` are the x values (RFC 3339), each series one value per time.
  function lineOption(data) {
    return {
      animation: false,
      color: PALETTE,
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { color: "#344054" } },
      tooltip: { trigger: "axis" },
      xAxis: Object.assign({ type: "time" }, AXIS, {
        splitLine: { show: false },
        axisLabel: { color: "#344054", hideOverlap: true },
      }),
      yAxis: valueAxis(data),
      series: data.series.map(function (s) {
        return {
          name: s.name,
          type: "line",
          showSymbol: data.symbols === true,  // a lone point (a minute with requests) shows
          step: s.step ? "end" : false,
          lineStyle: { width: 2, type: s.dashed ? "dashed" : "solid" },
          areaStyle: s.dashed ? null : { opacity: 0.08 },
          data: data.times.map(function (t, i) { return [t, s.values[i]]; }),
        };
      }),
    };
  }

  // A training curve (a job's metric): `points` are [step, value], steps on the x axis; the
  // y axis fits the values (a loss rarely starts at 0).
  function stepsOption(data) {
    return {
      animation: false,
      color: PALETTE,
      grid: { left: 8, right: 16, top: 12, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: Object.assign({ type: "value", minInterval: 1, scale: true }, AXIS, {
        splitLine: { show: false },
        axisLabel: { color: "#344054", hideOverlap: true },
      }),
      yAxis: Object.assign({ type: "value", scale: true }, AXIS),
      series: [{
        name: data.name,
        type: "line",
        showSymbol: data.points.length < 30,
        lineStyle: { width: 2 },
        areaStyle: { opacity: 0.06 },
        data: data.points,
      }],
    };
  }

  // Training curves: one line per metric over the steps (a model's `metrics.jsonl`).
  function curveOption(data) {
    return {
      animation: false,
      color: PALETTE,
      grid: { left: 8, right: 16, top: 36, bottom: 24, containLabel: true },
      legend: { top: 0, type: "scroll", textStyle: { color: "#344054" } },
      tooltip: { trigger: "axis" },
      xAxis: Object.assign({ type: "value" }, AXIS, {
        splitLine: { show: false },
        minInterval: 1,
      }),
      yAxis: Object.assign({ type: "value", scale: true }, AXIS),
      series: data.series.map(function (s) {
        return {
          name: s.name,
          type: "line",
          showSymbol: data.steps.length < 40,
          connectNulls: true,
          lineStyle: { width: 2 },
          data: data.steps.map(function (x, i) { return [x, s.values[i]]; }),
        };
      }),
    };
  }

  // The dashboard's jobs by state: one horizontal bar per state, in the state's colour.
  function stateOption(data) {
    return {
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
    };
  }

  var AXIS_NAME = { color: "#344054", fontWeight: 600 };

  // A model card's confusion matrix: actual classes down, predicted across, counts as colour.
  function confusionOption(data) {
    var cells = [];
    var most = 1;
    data.matrix.forEach(function (row, i) {
      row.forEach(function (count, j) { cells.push([j, i, count]); most = Math.max(most, count); });
    });
    return {
      animation: false,
      grid: { left: 8, right: 16, top: 8, bottom: 48, containLabel: true },
      tooltip: { trigger: "item" },
      xAxis: { type: "category", data: data.labels, name: data.names.predicted, nameLocation: "middle", nameGap: 28, nameTextStyle: AXIS_NAME,
        axisLabel: { color: "#344054", interval: 0, hideOverlap: true }, splitArea: { show: true } },
      yAxis: { type: "category", data: data.labels, name: data.names.actual, nameTextStyle: AXIS_NAME, inverse: true,
        axisLabel: { color: "#344054", interval: 0 }, splitArea: { show: true } },
      visualMap: { min: 0, max: most, show: false, inRange: { color: ["#eef2ff", "#4338ca"] } },
      series: [{ name: data.names.count, type: "heatmap", data: cells, label: { show: data.labels.length <= 12, color: "#1b2233" } }],
    };
  }

  // Feature importance: one horizontal bar per column, the most important on top.
  function importanceOption(data) {
    return {
      animation: false,
      color: PALETTE,
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      yAxis: { type: "category", data: data.features, inverse: true, axisTick: { show: false },
        axisLabel: { color: "#344054", interval: 0 } },
      xAxis: Object.assign({ type: "value" }, AXIS),
      series: [{ type: "bar", barMaxWidth: 16, data: data.values }],
    };
  }

  // Residuals: each held-out row as (actual, predicted), and the line where they are equal.
  function residualsOption(data) {
    var low = Infinity, high = -Infinity;
    data.points.forEach(function (p) { low = Math.min(low, p[0], p[1]); high = Math.max(high, p[0], p[1]); });
    return {
      animation: false,
      color: PALETTE,
      grid: { left: 8, right: 16, top: 12, bottom: 40, containLabel: true },
      tooltip: { trigger: "item" },
      xAxis: Object.assign({ type: "value", scale: true, name: data.names.actual, nameLocation: "middle", nameGap: 26, nameTextStyle: AXIS_NAME }, AXIS),
      yAxis: Object.assign({ type: "value", scale: true, name: data.names.predicted, nameTextStyle: AXIS_NAME }, AXIS),
      series: [
        { name: data.names.predicted, type: "scatter", symbolSize: 5, data: data.points },
        { type: "line", silent: true, showSymbol: false, lineStyle: { type: "dashed", color: "#98a2b3" },
          data: isFinite(low) ? [[low, low], [high, high]] : [] },
      ],
    };
  }

  // A forecast: the actual series (when known), the forecast, and its interval as a band.
  function forecastOption(data) {
    var lower = data.lower || [];
    var upper = data.upper || [];
    var band = upper.map(function (u, i) { return u == null || lower[i] == null ? null : u - lower[i]; });
    var series = [];
    if (lower.length && upper.length) {
      series.push({ type: "line", stack: "band", data: lower, showSymbol: false, silent: true, lineStyle: { opacity: 0 } });
      series.push({ name: data.names.band, type: "line", stack: "band", data: band, showSymbol: false, silent: true,
        lineStyle: { opacity: 0 }, areaStyle: { color: "rgba(14,165,233,0.18)" }, itemStyle: { color: "rgba(14,165,233,0.4)" } });
    }
    if (data.actual && data.actual.length) {
      series.push({ name: data.names.actual, type: "line", data: data.actual, showSymbol: false, itemStyle: { color: "#344054" }, lineStyle: { width: 2 } });
    }
    series.push({ name: data.names.predicted, type: "line", data: data.predicted, showSymbol: data.time.length < 40,
      itemStyle: { color: "#0ea5e9" }, lineStyle: { width: 2, type: "dashed" } });
    return {
      animation: false,
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { color: "#344054" }, data: series.filter(function (s) { return s.name; }).map(function (s) { return s.name; }) },
      tooltip: { trigger: "axis" },
      xAxis: Object.assign({ type: "category", data: data.time, boundaryGap: false }, AXIS, { axisLabel: { color: "#344054", hideOverlap: true } }),
      yAxis: Object.assign({ type: "value", scale: true }, AXIS),
      series: series,
    };
  }

  var OPTIONS = {
    bars: barOption, lines: lineOption, steps: stepsOption, curves: curveOption,
    confusion: confusionOption, importance: importanceOption, residuals: residualsOption,
    forecast: forecastOption,
  };

  function charts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (window.echarts.getInstanceByDom(el)) return;
      var data = JSON.parse(el.getAttribute("data-chart"));
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      var option = (OPTIONS[data.type] || stateOption)(data);
      // Tooltips drawn on the canvas: ECharts' HTML tooltips carry inline styles, which the
      // portal's Content-Security-Policy (style-src 'self') refuses whenever the pointer rests
      // on a chart.
      option.tooltip = Object.assign({ renderMode: "richText" }, option.tooltip);
      chart.setOption(option);
      el.setAttribute("data-chart-ready", "true");
    });
  }

  // A table wider than its card (or taller than a `table-scroll`) scrolls inside it; the
  // keyboard must reach it too, so it takes focus and is a region named by its card's heading.
  // Tables that fit are left alone.
  function scrollingTables() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1 || wrap.scrollHeight > wrap.clientHeight + 1;
      var ours = wrap.hasAttribute("data-scroll-region");
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        var card = wrap.closest("section, .card");
        var heading = card && card.querySelector("h2, h3");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("data-scroll-region", "");
        if (heading && heading.id) {
          wrap.setAttribute("role", "region");
          wrap.setAttribute("aria-labelledby", heading.id);
        }
      } else if (!scrolls && ours) {
        ["tabindex", "data-scroll-region", "role", "aria-labelledby"].forEach(function (name) {
          wrap.removeAttribute(name);
        });
      }
    });
  }

  window.addEventListener("resize", scrollingTables);

  // One listener for every chart on the page, including those a poll brought in.
  window.addEventListener("resize", function () {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart-ready]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) chart.resize();
    });
  });

  // A chart leaving the page (a poll replaced it) is disposed, so ECharts lets it go.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!window.echarts || !event.detail.shouldSwap || !event.detail.target.querySelectorAll) return;
    event.detail.target.querySelectorAll("[data-chart-ready]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) chart.dispose();
    });
  });

  // Buttons that destroy something ask first (no inline script: the CSP forbids it).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // A picker that shows another view as soon as it changes (the images page's project).
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-submit-on-change") && field.form) {
      field.form.submit();
    }
  });

  // A data set's upload: sent by XHR to show its progress, with each file under its path in
  // the picked folder; the same form posts plainly without JavaScript. Over the limit, it
  // says so before sending anything.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-upload") || event.defaultPrevented) return;
    if (!window.FormData || !window.XMLHttpRequest) return;
    event.preventDefault();
    var error = form.parentNode.querySelector("[data-upload-error]");
    var bar = form.querySelector("progress");
    var status = form.querySelector("[role=status]");
    var button = form.querySelector("button[type=submit]");
    function fail(text) {
      error.textContent = text;
      error.hidden = false;
      bar.hidden = true;
      button.disabled = false;
    }
    var body = new FormData();
    var total = 0;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      if (el.type === "file") {
        Array.prototype.forEach.call(el.files, function (file) {
          body.append(el.name, file, file.webkitRelativePath || file.name);
          total += file.size;
        });
      } else if (el.type !== "checkbox" || el.checked) {
        body.append(el.name, el.value);
      }
    });
    if (total > Number(form.getAttribute("data-max-bytes"))) return fail(form.getAttribute("data-too-big"));
    if (body.getAll("files").length > Number(form.getAttribute("data-max-files"))) return fail(form.getAttribute("data-too-many"));
    error.hidden = true;
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.value = Math.round((100 * e.loaded) / e.total);
      status.textContent = bar.value + "%";
    });
    xhr.upload.addEventListener("load", function () { bar.removeAttribute("value"); });
    xhr.addEventListener("load", function () {
      if (xhr.status < 400) {
        window.location.assign(xhr.responseURL || window.location.href);
        return;
      }
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var said = page.querySelector("[data-upload-error]") || page.querySelector(".detail, .alert-error");
      fail(said && said.textContent.trim() ? said.textContent.trim() : form.getAttribute("data-failed"));
      status.textContent = "";
    });
    xhr.addEventListener("error", function () { fail(form.getAttribute("data-failed")); status.textContent = ""; });
    xhr.send(body);
  });

  // A snippet's copy button: its text to the clipboard, and the button says so a moment. The
  // snippet stays selectable by hand where the clipboard is not allowed (plain HTTP).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    var label = button.textContent;
    var done = function () {
      button.textContent = button.getAttribute("data-copied") || label;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectAll(source); });
    } else {
      selectAll(source);
    }
  });

  function selectAll(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    node.focus();
  }

  // A one-time secret is selected when focused, ready to copy.
  document.addEventListener("focusin", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) event.target.select();
  });

  function init(root) {
    localTimes(root);
    charts(root);
    scrollingTables();
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
    scrollingTables();
    var pre = root.querySelector && root.querySelector("pre[data-follow]");
    if (pre && logScroll && !logScroll.atEnd) {
      pre.scrollTop = logScroll.top;
    } else if (pre) {
      pre.scrollTop = pre.scrollHeight;
    }
  });

  // A form the server refused: put the keyboard on its first wrong field.
  function focusError() {
    var wrong = document.querySelector("form [aria-invalid='true']");
    if (wrong) wrong.focus();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); focusError(); });
  } else {
    init(document);
    focusError();
  }
})();
