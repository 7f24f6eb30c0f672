/**
 * Independent float64 reference of crop-with-padding → flip → normalise,
 * written the slow, literal way (materialise the padded image, cut the
 * window, mirror it, normalise) so it shares no index arithmetic with
 * lib/data/augment_ref.ts.
 * @module
 */

/** One HWC image (`src`, raw values) augmented with the given draws. */
export function augmentLiteral(
  src: ArrayLike<number>,
  shape: readonly number[],
  draw: { dy: number; dx: number; flip: boolean },
  pad: number,
  norm: { scale: number; mean: readonly number[]; std: readonly number[] },
): Float64Array {
  const [h, w, c] = shape;
  const ph = h + 2 * pad, pw = w + 2 * pad;
  // 1. Zero-padded copy.
  const padded: number[][][] = [];
  for (let y = 0; y < ph; y++) {
    padded.push([]);
    for (let x = 0; x < pw; x++) {
      const inside = y >= pad && y < pad + h && x >= pad && x < pad + w;
      const px: number[] = [];
      for (let k = 0; k < c; k++) px.push(inside ? src[((y - pad) * w + (x - pad)) * c + k] : 0);
      padded[y].push(px);
    }
  }
  // 2. Window of the original size at (dy, dx).
  let crop: number[][][] = padded.slice(draw.dy, draw.dy + h).map((row) =>
    row.slice(draw.dx, draw.dx + w)
  );
  // 3. Mirror each row.
  if (draw.flip) crop = crop.map((row) => [...row].reverse());
  // 4. Normalise.
  const out = new Float64Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        out[(y * w + x) * c + k] = (crop[y][x][k] * norm.scale - norm.mean[k]) / norm.std[k];
      }
    }
  }
  return out;
}
