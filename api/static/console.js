/* The console's charts (Apache ECharts) and its print link. A static file, so that no page
   needs an inline script: the Content-Security-Policy allows scripts from this site only.
   Each page hands over its figures (and chart labels) as JSON data blocks. */
(function () {
  "use strict";

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function dashboard(data, labels) {
    echarts.init(document.getElementById("chart-trend"), null, {renderer: "canvas"}).setOption({
      animation: false,
      tooltip: {trigger: "axis"},
      legend: {data: [labels.ratings, labels.bad, labels.good_rate]},
      xAxis: {type: "category", data: data.months},
      yAxis: [{type: "value", name: labels.count}, {type: "value", name: "%", min: 0, max: 100}],
      series: [
        {name: labels.ratings, type: "bar", data: data.ratings},
        {name: labels.bad, type: "bar", data: data.bad},
        {name: labels.good_rate, type: "line", yAxisIndex: 1, data: data.good_rate}
      ]
    });
    echarts.init(document.getElementById("chart-units"), null, {renderer: "canvas"}).setOption({
      animation: false,
      tooltip: {trigger: "axis"},
      legend: {data: [labels.bad_open, labels.overdue]},
      grid: {left: 120},
      xAxis: {type: "value"},
      yAxis: {type: "category", data: data.units},
      series: [
        {name: labels.bad_open, type: "bar", data: data.unit_open},
        {name: labels.overdue, type: "bar", data: data.unit_overdue}
      ]
    });
  }

  function scoring(data, labels) {
    echarts.init(document.getElementById("chart-distribution")).setOption({
      animation: false, tooltip: {}, xAxis: {type: "category", data: data.bins},
      yAxis: {type: "value", minInterval: 1},
      series: [{type: "bar", data: data.counts, name: labels.units}]
    });
    var series = Object.keys(data.components).map(function (name) {
      return {name: name, type: "bar", stack: "total", data: data.components[name]};
    });
    echarts.init(document.getElementById("chart-components")).setOption({
      animation: false, tooltip: {trigger: "axis"}, legend: {},
      grid: {left: 130}, xAxis: {type: "value", max: 100},
      yAxis: {type: "category", data: data.units, inverse: true}, series: series
    });
    echarts.init(document.getElementById("chart-trend")).setOption({
      animation: false, tooltip: {trigger: "axis"}, legend: {type: "scroll"},
      xAxis: {type: "category", data: data.periods}, yAxis: {type: "value", scale: true},
      series: data.trend.map(function (s) {
        return {name: s.name, type: "line", data: s.data, connectNulls: false};
      })
    });
  }

  function results(charts) {
    charts.forEach(function (c) {
      var node = document.getElementById(c.id);
      if (!node) { return; }
      var chart = echarts.init(node);
      chart.setOption({
        tooltip: {trigger: "axis"},
        grid: {left: 40, right: 20, top: 20, bottom: 60, containLabel: true},
        xAxis: {type: "category", data: c.labels,
                axisLabel: {interval: 0, rotate: c.labels.length > 5 ? 30 : 0}},
        yAxis: {type: "value", minInterval: 1},
        series: [{type: "bar", data: c.counts, itemStyle: {color: "#1d4e89"}}]
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  var print = document.getElementById("print-sheet");
  if (print) {
    print.addEventListener("click", function (event) {
      event.preventDefault();
      window.print();
    });
  }

  if (typeof echarts === "undefined") { return; }
  var figures = data("chart-data");
  var labels = data("chart-labels") || {};
  if (figures && document.getElementById("chart-distribution")) {
    scoring(figures, labels);
    document.body.dataset.chartsReady = "1";
  } else if (figures && document.getElementById("chart-units")) {
    dashboard(figures, labels);
    document.body.dataset.chartsReady = "1";
  }
  var found = data("results-data");
  if (found) { results(found); }
})();
