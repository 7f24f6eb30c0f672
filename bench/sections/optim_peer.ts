/**
 * TensorFlow.js twins of AdaBK's stages for the optim bench: the same
 * arithmetic, layer by layer, with the shapes of a compiled plan's Kronecker
 * taps. TF.js has no Kronecker optimizer, so these are the fairest peer we can
 * time: they get the im2col patch matrix for free (materialised once, outside
 * the timing), which only flatters the peer.
 * @module
 */

import type { KroneckerTaps } from "../../lib/ops/types.ts";
import { timePeer } from "../harness.ts";

// deno-lint-ignore no-explicit-any
type Tf = any;

interface LayerTensors {
  X: unknown;
  D: unknown;
  G: unknown;
  L: unknown;
  R: unknown;
}

function factorShapes(t: KroneckerTaps) {
  const cols = t.inFeatures + (t.bias ? 1 : 0);
  return { rows: t.rows, cols, out: t.outFeatures };
}

/**
 * Median TF.js milliseconds of (a) one statistics pass: L ← α·L + (1−α)·DᵀD/N
 * and R ← α·R + (1−α)·X̃ᵀX̃/N for every layer, and (b) one preconditioning:
 * Ĝ = L̂·G·R̂ rescaled to ‖G‖ for every layer.
 */
export async function peerStageTimes(
  tf: Tf,
  taps: readonly KroneckerTaps[],
): Promise<{ statistics: number; precondition: number }> {
  const layers: LayerTensors[] = taps.filter((t) => t.groups === 1).map((t) => {
    const { rows, cols, out } = factorShapes(t);
    return {
      X: tf.randomNormal([rows, cols]),
      D: tf.randomNormal([rows, out]),
      G: tf.randomNormal([out, cols]),
      L: tf.eye(out),
      R: tf.eye(cols),
    };
  });
  const alpha = 0.9;
  try {
    const statistics = await timePeer(tf, () =>
      layers.flatMap((l) => {
        const n = (l.X as { shape: number[] }).shape[0];
        const ema = (A: unknown, S: unknown) =>
          tf.add(tf.mul(alpha, A), tf.mul((1 - alpha) / n, S));
        return [
          ema(l.L, tf.matMul(l.D, l.D, true, false)),
          ema(l.R, tf.matMul(l.X, l.X, true, false)),
        ];
      }), { samples: 3, minBatchMs: 300, warmup: 1 });
    const precondition = await timePeer(tf, () =>
      layers.map((l) => {
        const P = tf.matMul(tf.matMul(l.L, l.G), l.R);
        return tf.mul(P, tf.div(tf.norm(l.G), tf.norm(P)));
      }), { samples: 3, minBatchMs: 300, warmup: 1 });
    return { statistics, precondition };
  } finally {
    for (const l of layers) tf.dispose(Object.values(l));
  }
}

/** Median TF.js milliseconds of 10 coupled Newton–Schulz steps (30 d×d products) on `A`. */
export async function peerNewtonSchulz(tf: Tf, A: Float32Array, d: number): Promise<number> {
  const Y0 = tf.tensor2d(A, [d, d]);
  const I = tf.eye(d);
  try {
    return await timePeer(tf, () => {
      let Y = Y0, Z = I;
      for (let k = 0; k < 10; k++) {
        const T = tf.mul(0.5, tf.sub(tf.mul(3, I), tf.matMul(Z, Y)));
        Y = tf.matMul(Y, T);
        Z = tf.matMul(T, Z);
      }
      return Z;
    }, { samples: 1, minBatchMs: 1, warmup: 1 });
  } finally {
    Y0.dispose();
    I.dispose();
  }
}
