/**
 * Figures: the SVG is a standalone document with one line and one
 * end-of-line label per group; labels never overprint; the PNG has text
 * (resvg-wasm drops text silently without a font, so two charts that differ
 * only in their title must rasterise differently).
 */
import { endLabels, lineChartSvg } from "../../lib/report/plot.ts";
import { loadFont, svgToPng } from "../../lib/report/png.ts";
import { aggregate } from "../../lib/report/aggregate.ts";
import { ReportError } from "../../lib/report/errors.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

const points = aggregate(
  ["adamw", "adamw_bk", "sgdm"].flatMap((group, g) =>
    [0, 1].flatMap((seed) =>
      [1, 2, 3, 4].map((key) => ({ group, key, x: key / 2, y: 1 / (key + g + seed) }))
    )
  ),
);

Deno.test("the SVG is standalone, with a line and an end label per group and no legend", () => {
  const svg = lineChartSvg({
    title: "Training loss",
    xLabel: "epoch",
    yLabel: "loss",
    points,
    band: true,
    yScale: "log",
  });
  assert(
    svg.startsWith("<svg") && svg.includes('xmlns="http://www.w3.org/2000/svg"'),
    svg.slice(0, 200),
  );
  assert(!svg.includes("<figure"), "a legend would wrap the chart in a <figure>");
  for (const name of ["adamw", "adamw_bk", "sgdm", "Training loss", "epoch"]) {
    assert(svg.includes(`>${name}<`), `text "${name}" in the SVG`);
  }
  // One line path per group (3), one band area per group (3).
  assertEquals((svg.match(/<path /g) ?? []).length >= 6, true, "paths for lines and bands");
});

Deno.test("end labels of lines ending at the same value are spread 14 px apart", () => {
  const placed = endLabels(
    [
      { group: "a", x: 1, y: 0.5 },
      { group: "b", x: 1, y: 0.5 },
      { group: "c", x: 1, y: 0.5 },
      { group: "d", x: 1, y: 0.9 },
    ],
    [0, 1],
    false,
    100,
  );
  const px = (y: number) => (1 - y) * 100;
  const ys = placed.map((p) => px(p.y)).sort((a, b) => a - b);
  for (let i = 1; i < ys.length; i++) {
    assert(ys[i] - ys[i - 1] >= 14 - 1e-9, `labels ${ys[i - 1]} and ${ys[i]} px overlap`);
  }
  // The first of the tied labels stays at its line's end.
  assert(placed.some((p) => Math.abs(p.y - 0.5) < 1e-12));
});

Deno.test("PNG: 1440 px wide, and the text is rendered without any system font", async () => {
  // The test task may not read /usr/share/fonts (nor may any other task):
  // the text below is drawn with the font that ships as an npm dependency.
  assert(
    Deno.permissions.querySync({ name: "read", path: "/usr/share/fonts" }).state !== "granted",
    "system fonts are readable here, so this test would not show that figures work without them",
  );
  const font = await loadFont();
  const chart = { xLabel: "epoch", yLabel: "loss", points, band: false };
  const a = await svgToPng(lineChartSvg({ ...chart, title: "first title" }), font);
  const b = await svgToPng(lineChartSvg({ ...chart, title: "another, longer title" }), font);
  assertEquals([...a.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(""), "PNG");
  const width = new DataView(a.buffer, a.byteOffset).getUint32(16); // IHDR width
  assertEquals(width, 1440);
  assert(
    a.length !== b.length || a.some((v, i) => v !== b[i]),
    "charts differing only in their title rasterise identically: text is not rendered",
  );
});

Deno.test("a missing --font file is a clear error naming it", async () => {
  const e = await assertRejects(() => loadFont(["/nonexistent/font.ttf"]), ReportError);
  assert(e.message.includes("/nonexistent/font.ttf") && e.message.includes("--font"), e.message);
});
