/**
 * SVG → PNG with resvg compiled to WebAssembly. The wasm module comes in as
 * a source-phase import and the font (DejaVu Sans, from the pinned npm
 * package dejavu-fonts-ttf) as a bytes import: module loading needs no
 * permission, and figures look the same on every machine, with or without
 * system fonts. The wasm build has no system font access, and without a font
 * resvg silently drops all text. The native resvg-js addon would need
 * --allow-ffi, --allow-sys and read access to Deno's npm cache, which a
 * narrow task cannot express.
 *
 * The npm specifiers are written out here rather than in deno.json's import
 * map: import-map packages are installed by every task, and only the figure
 * commands need these (see docs/cli.md, "Lockfiles").
 * @module
 */

// deno-lint-ignore no-import-prefix -- kept out of the import map, whose packages every task installs
import { initWasm, Resvg } from "npm:@resvg/resvg-wasm@2.6.2";
// deno-lint-ignore no-import-prefix -- kept out of the import map, whose packages every task installs
import dejavuSans from "npm:dejavu-fonts-ttf@2.37.3/ttf/DejaVuSans.ttf" with { type: "bytes" };
import resvgWasm from "./resvg_wasm.js";
import { ReportError } from "./errors.ts";

/** The family name of {@link BUNDLED_FONT}, the default for all text. */
export const BUNDLED_FONT_FAMILY = "DejaVu Sans";

/** DejaVu Sans (regular), the font of every figure unless `--font` names another. */
export const BUNDLED_FONT: Uint8Array = dejavuSans;

let ready: Promise<void> | undefined;

/**
 * The font for PNG text: the first readable file of `paths`, or the bundled
 * DejaVu Sans when no path is given. Throws {@link ReportError} listing what
 * was tried when none of `paths` is readable.
 */
export async function loadFont(paths?: readonly string[]): Promise<Uint8Array> {
  if (paths === undefined || paths.length === 0) return BUNDLED_FONT;
  for (const p of paths) {
    try {
      return await Deno.readFile(p);
    } catch { /* try the next one */ }
  }
  throw new ReportError(
    `no readable font for PNG output (tried ${paths.join(", ")}); ` +
      "check the --font path and that the task may read it, or omit --font for the bundled DejaVu Sans",
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
    font: { fontBuffers: [font], loadSystemFonts: false, defaultFontFamily: BUNDLED_FONT_FAMILY },
  });
  try {
    return r.render().asPng();
  } finally {
    r.free();
  }
}
