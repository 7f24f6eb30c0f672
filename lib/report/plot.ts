/// <reference lib="dom" />
/**
 * Line charts as standalone SVG: Observable Plot rendering into a linkedom
 * document (no browser). One line per group (the mean over seeds), an
 * optional shaded min–max band, and the group's name at the end of its line
 * instead of a legend (a Plot legend wraps the chart in an HTML `<figure>`,
 * which is not an SVG file).
 * @module
 */

// deno-lint-ignore no-import-prefix -- kept out of the import map, whose packages every task installs
import * as Plot from "npm:@observablehq/plot@0.6.17";
// deno-lint-ignore no-import-prefix -- kept out of the import map, whose packages every task installs
import { parseHTML } from "npm:linkedom@0.18.15";
import type { Band } from "./aggregate.ts";

/** What to draw. */
export interface LineChart {
  /** Title, drawn at the top left. */
  title: string;
  /** Horizontal axis label. */
  xLabel: string;
  /** Vertical axis label. */
  yLabel: string;
  /** Aggregated points of every group (see `aggregate`). */
  points: readonly Band[];
  /** Shade min–max around each line (use when groups have several seeds). */
  band: boolean;
  /** Vertical scale; `log` suits losses spanning decades. Default linear. */
  yScale?: "linear" | "log";
  /** Format ticks and labels as percentages (values in [0, 1]). */
  percent?: boolean;
  /** Width in px (default 720). */
  width?: number;
  /** Height in px (default 440). */
  height?: number;
}

const SVG_NS = "http://www.w3.org/2000/svg";

const MARGIN = { top: 40, right: 16, bottom: 40, left: 72 };
/** Vertical room one end-of-line label needs, px (12 px text plus a gap). */
const LABEL_GAP = 14;

/**
 * Places the end-of-line labels: each at its line's last value, moved apart
 * vertically where lines end close together (so names never overprint).
 * Works in pixels through the same scale Plot uses (the domain is fixed
 * here for that reason) and maps the positions back to data values.
 */
export function endLabels(
  ends: readonly { group: string; x: number; y: number }[],
  domain: readonly [number, number],
  log: boolean,
  plotHeight: number,
): { group: string; x: number; y: number }[] {
  const f = log ? Math.log : (v: number) => v;
  const [lo, hi] = [f(domain[0]), f(domain[1])];
  const toPx = (v: number) => (1 - (f(v) - lo) / (hi - lo || 1)) * plotHeight;
  const fromPx = (px: number) => {
    const t = lo + (1 - px / plotHeight) * (hi - lo);
    return log ? Math.exp(t) : t;
  };
  const placed = ends.map((e) => ({ ...e, px: toPx(e.y) })).sort((a, b) => a.px - b.px);
  for (let i = 1; i < placed.length; i++) {
    placed[i].px = Math.max(placed[i].px, placed[i - 1].px + LABEL_GAP);
  }
  // Labels pushed past the bottom shift back up as a block.
  const over = placed.length ? placed[placed.length - 1].px - plotHeight : 0;
  if (over > 0) { for (const p of placed) p.px -= over; }
  return placed.map((p) => ({ group: p.group, x: p.x, y: fromPx(p.px) }));
}

/** Renders `chart` as an SVG document string (with its XML namespace, ready to save). */
export function lineChartSvg(chart: LineChart): string {
  const { document } = parseHTML("<!DOCTYPE html><html><body></body></html>");
  const width = chart.width ?? 720;
  const height = chart.height ?? 440;
  const log = chart.yScale === "log";
  const groups = [...new Set(chart.points.map((p) => p.group))];
  const data = chart.points.map((p) => ({ ...p }));
  const ys = data.flatMap((p) => (chart.band ? [p.min, p.max, p.mean] : [p.mean]))
    .filter((v) => Number.isFinite(v) && (!log || v > 0));
  let domain: [number, number] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (!log) {
    // 4% headroom so lines do not run along the frame.
    const pad = (domain[1] - domain[0]) * 0.04 || 0.01;
    domain = [domain[0] - pad, domain[1] + pad];
  } else if (domain[0] === domain[1]) domain = [domain[0] / 1.1, domain[1] * 1.1];
  const ends = groups.flatMap((g) => {
    const last = data.filter((p) => p.group === g).at(-1);
    return last ? [{ group: g, x: last.x, y: last.mean }] : [];
  });
  const labels = endLabels(
    ends.filter((e) => Number.isFinite(e.y)),
    domain,
    log,
    height - MARGIN.top - MARGIN.bottom,
  );
  const longest = Math.max(0, ...groups.map((g) => g.length));
  const marks: Plot.Markish[] = [];
  if (chart.band) {
    marks.push(
      Plot.areaY(data, {
        x: "x",
        y1: "min",
        y2: "max",
        z: "group",
        fill: "group",
        fillOpacity: 0.18,
      }),
    );
  }
  marks.push(
    Plot.line(data, { x: "x", y: "mean", z: "group", stroke: "group", strokeWidth: 1.8 }),
    Plot.text(labels, {
      x: "x",
      y: "y",
      text: "group",
      fill: "group",
      textAnchor: "start",
      dx: 6,
      fontSize: 12,
      clip: false,
    }),
    Plot.text([chart.title], {
      frameAnchor: "top-left",
      dy: -28,
      dx: -MARGIN.left + 8,
      fontSize: 14, // regular weight: only one font file is loaded for the PNG
      textAnchor: "start",
    }),
  );
  const tickFormat = chart.percent ? (v: number) => `${+(100 * v).toFixed(1)}%` : "~g";
  const el = Plot.plot({
    document: document as unknown as Document,
    width,
    height,
    marginTop: MARGIN.top,
    marginBottom: MARGIN.bottom,
    marginLeft: MARGIN.left,
    // Room for the end-of-line labels (about 8 px per character at 12 px).
    marginRight: MARGIN.right + 8 * longest,
    style: { background: "white", fontSize: "11px" },
    grid: true,
    x: { label: chart.xLabel, labelAnchor: "center", labelArrow: "none" },
    y: {
      label: chart.yLabel,
      labelAnchor: "center",
      labelArrow: "none",
      type: log ? "log" : "linear",
      domain,
      tickFormat,
    },
    color: { domain: groups, range: PALETTE },
    marks,
  }) as unknown as Element;
  el.setAttribute("xmlns", SVG_NS);
  return el.outerHTML;
}

/** Tableau 10: distinct, colour-blind-aware hues. */
const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];
