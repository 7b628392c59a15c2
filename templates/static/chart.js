// A small bar chart in plain SVG for the console's overview. One chart shows
// one series, titled and labelled in text (its total, its peak, the time at
// each end and the scale), so it reads without colour; the bars carry
// <title>s, and the chart's aria-label says what it shows.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// niceMax rounds a peak up to 1, 2 or 5 times a power of ten, so that the
// scale's label is a round number.
function niceMax(peak) {
  if (peak <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(peak)));
  for (const m of [1, 2, 5, 10]) if (m * p >= peak) return m * p;
  return 10 * p;
}

// barChart returns a <figure> with a titled SVG bar chart of values, one bar
// per bucket; label(i) names bucket i (its start time).
function barChart(title, values, label) {
  const W = 600, H = 160, left = 40, right = 8, top = 10, bottom = 22;
  const total = values.reduce((a, b) => a + b, 0);
  const peak = values.reduce((a, b) => Math.max(a, b), 0);
  const max = niceMax(peak);
  const fig = document.createElement("figure");
  fig.className = "chart";
  const cap = document.createElement("figcaption");
  const name = document.createElement("strong");
  name.textContent = title;
  cap.append(name, document.createTextNode(" — total " + total + ", peak " + peak));
  fig.appendChild(cap);

  const svg = svgEl("svg", {
    viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `${title}: ${total} in all, at most ${peak} per bucket, from ${label(0)} to ${label(values.length - 1)}`,
  });
  svg.appendChild(svgEl("title", {}, `${title}: total ${total}, peak ${peak}`));
  const plotW = W - left - right, plotH = H - top - bottom;
  // Scale: a line at the top with its value, and the baseline at 0.
  svg.appendChild(svgEl("line", { x1: left, x2: W - right, y1: top, y2: top, class: "grid" }));
  svg.appendChild(svgEl("line", { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
  svg.appendChild(svgEl("text", { x: left - 4, y: top + 4, "text-anchor": "end", class: "tick" }, String(max)));
  svg.appendChild(svgEl("text", { x: left - 4, y: top + plotH, "text-anchor": "end", class: "tick" }, "0"));
  const bw = plotW / Math.max(values.length, 1);
  values.forEach((v, i) => {
    if (v <= 0) return;
    const h = Math.max((v / max) * plotH, 1);
    const bar = svgEl("rect", { x: left + i * bw, y: top + plotH - h, width: Math.max(bw - (bw > 3 ? 1 : 0), 0.5), height: h, class: "bar" });
    bar.appendChild(svgEl("title", {}, `${label(i)}: ${v}`));
    svg.appendChild(bar);
  });
  svg.appendChild(svgEl("text", { x: left, y: H - 6, class: "tick" }, label(0)));
  svg.appendChild(svgEl("text", { x: W - right, y: H - 6, "text-anchor": "end", class: "tick" }, label(values.length - 1)));
  fig.appendChild(svg);
  return fig;
}

window.latchChart = { barChart };
