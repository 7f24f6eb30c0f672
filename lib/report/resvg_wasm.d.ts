/** The compiled resvg WebAssembly module (for `initWasm`). */
declare const resvgWasm: WebAssembly.Module;
export default resvgWasm;
