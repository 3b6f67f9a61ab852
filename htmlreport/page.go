package htmlreport

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/flowscope/flowscope/record"
)

// Write writes the page about rec. problem, when not nil, is why the file
// stopped being readable (see record.FormatError); the page says so and
// shows what came before.
func Write(w io.Writer, rec *record.Recording, problem error) error {
	if rec == nil {
		return fmt.Errorf("htmlreport: no recording")
	}
	var b bytes.Buffer
	if err := page.Execute(&b, build(rec, problem, time.Now())); err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

var page = template.Must(template.New("page").Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="flowscope">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1000px; padding: 16px; color: #1d232a; background: #fbfbfc; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #d5d9de; } h3 { font-size: 15px; margin: 18px 0 4px; }
.meta, .note { color: #5b6672; } .problem { background: #fff1f0; border: 1px solid #f0b4ae; padding: 8px 10px; border-radius: 4px; }
table { border-collapse: collapse; } td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; } th { color: #5b6672; font-weight: normal; }
table.results td, table.results th { border-bottom: 1px solid #e6e8eb; padding: 3px 12px 3px 0; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 28px; }
svg { display: block; background: #fff; border: 1px solid #e1e4e8; border-radius: 4px; }
svg text { font: 11px system-ui, sans-serif; fill: #5b6672; }
.axis line { stroke: #eceef1; } .sum-line { fill: none; stroke: #1f6feb; stroke-width: 1.6; } .sum-area { fill: #1f6feb; fill-opacity: .12; }
.marker line { stroke-width: 1.2; stroke-dasharray: 3 3; } .marker.warning line { stroke: #d29922; } .marker.critical line { stroke: #cf222e; } .marker.info line { stroke: #8c959f; }
.bar.warning { fill: #d29922; } .bar.critical { fill: #cf222e; } .bar.info { fill: #8c959f; } .bar.ongoing { fill-opacity: .55; }
.hist rect { fill: #2da44e; }
.finding { margin: 8px 0; padding: 6px 10px; border-left: 4px solid #8c959f; background: #fff; }
.finding.warning { border-color: #d29922; } .finding.critical { border-color: #cf222e; }
.finding .span { font-weight: 600; } .finding .fix { font-family: ui-monospace, monospace; }
.stats span { margin-right: 18px; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">Source: {{.Source}} file{{if .Producer}}, written by {{.Producer}}{{end}}{{if .SystemInfo}} on <code id="system-info">{{.SystemInfo}}</code>{{end}}. Report made {{.Generated}} by flowscope.</p>
{{if .Problem}}<p class="problem" id="problem">The file stops being readable at {{.Problem}}. Everything before that point is shown.</p>{{end}}
{{if not .Tests}}<p class="note">The file holds no test.</p>{{end}}
{{range .Tests}}{{$t := .}}
<section class="test" id="test-{{.N}}">
<h2>{{.Heading}}</h2>
{{if .Incomplete}}<p class="problem">{{.Incomplete}}</p>{{end}}
<div class="grid">
<div><h3>Test parameters</h3><table id="params-{{.N}}">{{range .Params}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}</table></div>
<div><h3>Hosts</h3><table id="hosts-{{.N}}">{{range .Hosts}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}</table></div>
</div>

{{range .Charts}}
<h3>{{.Label}}</h3>
<p class="stats"><span>mean <b>{{.Mean}}</b></span><span>peak {{.Peak}}</span><span>moved {{.Total}}</span>{{if .Retransmits}}<span>retransmits {{.Retransmits}}</span>{{end}}</p>
<svg class="sum-chart" id="{{.ID}}-{{$t.N}}" viewBox="0 0 960 220" width="960" height="220" role="img" aria-label="{{.Label}}">
<g class="axis">{{range .YTicks}}<line x1="78" x2="944" y1="{{.Pos}}" y2="{{.Pos}}"></line><text x="72" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>{{end}}
{{range .XTicks}}<text x="{{.Pos}}" y="212" text-anchor="middle">{{.Label}}</text>{{end}}</g>
<polygon class="sum-area" points="{{.Area}}"></polygon>
<polyline class="sum-line" points="{{.Points}}"></polyline>
{{range .Markers}}<g class="marker {{.Class}}"><line x1="{{.X}}" x2="{{.X}}" y1="12" y2="194"></line><title>{{.Label}}</title></g>{{end}}
</svg>
{{else}}<p class="note">No intervals were recorded.</p>
{{end}}

<h3>Streams × time</h3>
{{if .Heat.Rows}}<p class="note">Each row is a stream ({{len .Heat.Rows}} rows; ↑ client to server, ↓ server to client), each column an interval; brighter is faster, red is stalled or failed. Hover for the numbers.</p>
<svg class="heatmap" id="heatmap-{{.N}}" data-test="{{.N}}" viewBox="0 0 960 {{.HeatH}}" width="960" height="{{.HeatH}}"></svg>
<script type="application/json" id="heat-data-{{.N}}">{{.Heat}}</script>
{{else}}<p class="note">No per-stream intervals were recorded.</p>{{end}}

<h3>Findings</h3>
{{if .Findings}}
<svg class="timeline" id="timeline-{{.N}}" viewBox="0 0 960 {{.TimelineH}}" width="960" height="{{.TimelineH}}">
<g class="axis">{{range .TimeTicks}}<line x1="{{.Pos}}" x2="{{.Pos}}" y1="8" y2="{{$t.TimelineH}}"></line><text x="{{.Pos}}" y="{{$t.TimelineH}}" dy="-8" text-anchor="middle">{{.Label}}</text>{{end}}</g>
{{range .Findings}}<g class="span-bar"><rect class="bar {{.Severity}}{{if .Ongoing}} ongoing{{end}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="16" rx="2"></rect><text x="{{.LabelX}}" y="{{.Y}}" dy="12" text-anchor="{{.Anchor}}">{{.Kind}} {{.Dir}}</text><title>{{.Span}}: {{.What}}</title></g>
{{end}}</svg>
<div id="findings-{{.N}}">
{{range .Findings}}<div class="finding {{.Severity}}"><span class="span">{{.Span}}</span> · {{.Severity}} · {{.Kind}}{{if .Dir}} {{.Dir}}{{end}}{{if .Origin}} · seen by the {{.Origin}}{{end}}{{if .Streams}} · streams {{.Streams}}{{end}}<br>{{.What}}{{if .Evidence}} ({{.Evidence}}){{end}}.{{if .Fix}}<br>Fix: <span class="fix">{{.Fix}}</span>{{end}}</div>
{{end}}</div>
{{else}}<p class="note" id="findings-{{.N}}">No findings: nothing in the kernel's view or the streams' behaviour needed explaining.</p>{{end}}

<h3>Connect times</h3>
{{with .Connect}}<p class="stats"><span>{{.Count}} data connections</span><span>min {{.Min}}</span><span>median <b>{{.Median}}</b></span><span>max {{.Max}}</span></p>
<svg class="hist" id="connect-{{$t.N}}" viewBox="0 0 960 220" width="960" height="220">
<g class="axis">{{range .XTicks}}<text x="{{.Pos}}" y="212" text-anchor="middle">{{.Label}}</text>{{end}}</g>
{{range .Bars}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Label}}</title></rect>{{end}}
</svg>
{{else}}<p class="note">Not in this file: a flowscope client records how long each data connection took to connect; servers and iperf3 files do not have them.</p>{{end}}

{{if .Results}}<h3>Results per stream</h3>
<table class="results" id="results-{{.N}}"><tr><th>stream</th><th>direction</th><th>moved</th><th>rate</th><th>retransmits / loss</th><th>RTT mean (min–max)</th><th>error</th></tr>
{{range .Results}}<tr><td>{{.ID}}</td><td>{{.Dir}}</td><td>{{.Bytes}}</td><td>{{.Rate}}</td><td>{{.Retr}}</td><td>{{.RTT}}</td><td>{{.Err}}</td></tr>{{end}}
</table>{{if .MoreRows}}<p class="note">… and {{.MoreRows}} more streams.</p>{{end}}{{end}}
</section>
{{end}}
<script>
// Draws each test's streams × time heat map from its JSON data.
(function () {
  var NS = "http://www.w3.org/2000/svg";
  var stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]; // viridis
  function color(f) {
    if (!(f > 0)) return "rgb(236,238,241)";
    f = Math.min(f, 1) * (stops.length - 1);
    var i = Math.min(Math.floor(f), stops.length - 2), t = f - i, a = stops[i], b = stops[i + 1];
    return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * t); }).join(",") + ")";
  }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    parent.appendChild(e);
    return e;
  }
  function label(v, unit) { return v === 0 ? "0" : (v / unit[0]).toPrecision(3) + " " + unit[1]; }
  document.querySelectorAll("svg.heatmap").forEach(function (svg) {
    var data = JSON.parse(document.getElementById("heat-data-" + svg.dataset.test).textContent);
    var left = 78, top = 4, w = 960 - left - 30, rowH = 14, n = data.times.length;
    var colW = w / Math.max(n, 1);
    data.rows.forEach(function (row, r) {
      var y = top + r * rowH;
      var t = el("text", {x: left - 6, y: y + rowH - 3, "text-anchor": "end"}, svg);
      t.textContent = row.label;
      row.rates.forEach(function (v, c) {
        var cell = el("rect", {x: left + c * colW, y: y, width: Math.max(colW - 0.5, 0.5), height: rowH - 1,
          fill: row.stalled[c] ? "#cf222e" : color(data.max > 0 ? v / data.max : 0), "class": "cell"}, svg);
        var tip = el("title", {}, cell);
        var from = c > 0 ? data.times[c - 1] : 0;
        tip.textContent = "stream " + row.label + ", " + from + "–" + data.times[c] + " s: " + label(v, data.unit) + (row.stalled[c] ? " (stalled)" : "");
      });
    });
    var axisY = top + data.rows.length * rowH + 14;
    var step = Math.max(1, Math.ceil(n / 10));
    for (var c = step - 1; c < n; c += step) {
      var t = el("text", {x: left + (c + 1) * colW, y: axisY, "text-anchor": "middle"}, svg);
      t.textContent = Number(data.times[c].toFixed(1)) + "s";
    }
    svg.setAttribute("data-drawn", data.rows.length * n);
  });
})();
</script>
</body>
</html>
`
