// @ts-self-types="./resvg_wasm.d.ts"
/**
 * The resvg WebAssembly module as a source-phase import: module loading
 * needs no --allow-read of Deno's npm cache. Plain JS because TypeScript does
 * not parse `import source` yet; the types come from resvg_wasm.d.ts.
 * @module
 */
// deno-lint-ignore no-import-prefix -- kept out of the import map, whose packages every task installs
import source resvgWasm from "npm:@resvg/resvg-wasm@2.6.2/index_bg.wasm";

export default resvgWasm;
