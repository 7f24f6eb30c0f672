/**
 * SVG → PNG with resvg compiled to WebAssembly. The wasm module comes in as
 * a source-phase import (module loading needs no permission), so the only
 * permission this needs is reading one TrueType font: the wasm build has no
 * system font access, and without a font resvg silently drops all text.
 * The native resvg-js addon would need --allow-ffi, --allow-sys and read
 * access to Deno's npm cache, which a narrow task cannot express.
 * @module
 */

import { initWasm, Resvg } from "@resvg/resvg-wasm";
import resvgWasm from "./resvg_wasm.js";
import { ReportError } from "./errors.ts";

/** Where common Linux distributions put a sans-serif TrueType font. */
export const FONT_CANDIDATES: readonly string[] = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/TTF/DejaVuSans.ttf",
  "/usr/share/fonts/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
  "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];

let ready: Promise<void> | undefined;

/**
 * Reads the first readable font of `paths`. Throws {@link ReportError}
 * listing what was tried when none is (install fonts-dejavu-core, or pass a
 * font file).
 */
export async function loadFont(paths: readonly string[] = FONT_CANDIDATES): Promise<Uint8Array> {
  for (const p of paths) {
    try {
      return await Deno.readFile(p);
    } catch { /* try the next one */ }
  }
  throw new ReportError(
    `no TrueType font found for PNG output (tried ${paths.join(", ")}); ` +
      "install fonts-dejavu-core or pass --font FILE.ttf (and allow reading it)",
  );
}

/** Rasterises `svg` to PNG bytes, `width` px wide (default 1440), on white. */
export async function svgToPng(
  svg: string,
  font: Uint8Array,
  width = 1440,
): Promise<Uint8Array> {
  ready ??= initWasm(resvgWasm);
  await ready;
  const r = new Resvg(svg, {
    fitTo: { mode: "width", value: width },
    background: "white",
    font: { fontBuffers: [font], loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  });
  try {
    return r.render().asPng();
  } finally {
    r.free();
  }
}
