// schulmon web UI: the device page's chart (uPlot). No inline scripts:
// the page carries its parameters in data- attributes, so a strict
// Content-Security-Policy (script-src 'self') holds.
(function () {
  "use strict";
  var palette = ["#0b5394", "#a4161a", "#1e6b2a", "#7a4f01", "#5b2a86", "#00626b", "#8a1a5b", "#3b3b3b"];

  function label(s) {
    var parts = [];
    Object.keys(s.tags || {}).sort().forEach(function (k) {
      if (["municipality", "site", "device", "class", "host", "agent_host", "target"].indexOf(k) < 0) parts.push(s.tags[k]);
    });
    return parts.length ? parts.join(" ") : s.field;
  }

  // align merges the series on the union of their timestamps.
  function align(series) {
    var times = {}, i, j;
    series.forEach(function (s) { s.samples.forEach(function (p) { times[Date.parse(p.t) / 1000] = true; }); });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var pos = {};
    xs.forEach(function (x, k) { pos[x] = k; });
    var data = [xs];
    for (i = 0; i < series.length; i++) {
      var col = new Array(xs.length).fill(null);
      var sm = series[i].samples;
      for (j = 0; j < sm.length; j++) col[pos[Date.parse(sm[j].t) / 1000]] = sm[j].v;
      data.push(col);
    }
    return data;
  }

  function draw(el) {
    var q = new URLSearchParams({
      site: el.dataset.site, device: el.dataset.device, measurement: el.dataset.measurement,
      field: el.dataset.field, from: el.dataset.from, step: el.dataset.step
    });
    fetch("/api/v1/series?" + q.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (list) {
        list = (list || []).filter(function (s) { return s.samples && s.samples.length; }).slice(0, 8);
        el.textContent = "";
        if (!list.length) { el.textContent = el.dataset.nodata; el.classList.add("nodata"); return; }
        var opts = {
          width: Math.max(300, el.clientWidth || 800), height: 300,
          series: [{}].concat(list.map(function (s, i) {
            return { label: label(s), stroke: palette[i % palette.length], width: 1.5, spanGaps: false };
          })),
          axes: [{}, { label: el.dataset.unit || "" }],
          scales: { x: { time: true } }
        };
        /* global uPlot */
        var plot = new uPlot(opts, align(list), el);
        el.dataset.drawn = String(list.length);
        window.addEventListener("resize", function () { plot.setSize({ width: Math.max(300, el.clientWidth), height: 300 }); });
      })
      .catch(function (e) { el.textContent = el.dataset.nodata + " (" + e.message + ")"; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("chart");
    if (el && window.uPlot) draw(el);
  });
})();
