/**
 * The recorded inverse-root chain for a batch of equal-size factors: λ̂ by
 * power iteration (Eq. 18), relative damping, then the coupled iteration of
 * Eq. 17 generalised to T = c0·I + c1·M + c2·M² with M = Z·Y:
 * Y ← Y·T, Z ← T·Z; from Y₀ = A_d/normaliser and Z₀ = I,
 * A_d^(−1/2) ≈ Z/√normaliser and A_d^(1/2) ≈ Y·√normaliser.
 *
 * Every dispatch covers the whole batch ([count, d, d] workspaces, matmul's
 * `batch`); only gathering the factors in (buffer copies) and committing each
 * root out are per factor. Products that cannot change the result are not
 * recorded: the first step's Z₀·Y₀ and T₁·Z₀ (Z₀ = I, so M₁ = Y₀ and
 * Z₁ = T₁ exactly), and the last step's update of the matrix that is not
 * returned (unless the residual check needs both).
 *
 * Variants (the `root.chain` kernel family): `full` products, or `sym<p>`:
 * symmetric products by p row slabs (symmetric.ts), which multiply
 * (p + 1)/(2p) of the FLOPs in p + 1 dispatches per product.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { Command } from "../../gpu/commands.ts";
import { type BufferArena, type Tensor, view } from "../../gpu/tensor.ts";
import { matmul } from "../matmul/matmul.ts";
import type { MatmulProblem } from "../matmul/types.ts";
import { check, checkStacked, SCALAR_SLOTS } from "./linalg.ts";
import { powerIteration, type RootNormaliser } from "./power.ts";
import {
  polyCombine,
  rootCheck,
  rootCommit,
  rootStart,
  type RootStepCoefficients,
} from "./steps.ts";
import {
  type AssemblyEpilogue,
  offsetAlignFloats,
  planSlabs,
  type SlabPlan,
  slabScratchSize,
  symmetricProduct,
} from "./symmetric.ts";

/** Names of the stacked workspace matrices. */
type MatrixName = "A" | "Y" | "Y2" | "Z" | "Z2" | "T" | "M" | "M2";

/**
 * Scratch of the root chains, shared by every chain of the same batch shape
 * (chains run one after another) and allocated on first use.
 */
export class RootWorkspaces {
  readonly #arena: BufferArena;
  readonly #tensors = new Map<string, Tensor>();

  /** Allocates lazily from `arena`. */
  constructor(arena: BufferArena) {
    this.#arena = arena;
  }

  #get(key: string, shape: number[]): Tensor {
    let t = this.#tensors.get(key);
    if (!t) this.#tensors.set(key, t = this.#arena.tensor(`root.${key}`, shape));
    return t;
  }

  /** Stacked matrix `name` for `count` d×d factors. */
  matrix(d: number, count: number, name: MatrixName): Tensor {
    return this.#get(`${count}x${d}.${name}`, [count, d, d]);
  }

  /** Vector `name` ([count, d]) or the row scratch ([count, d, 2]). */
  vector(d: number, count: number, name: "v" | "w" | "rows"): Tensor {
    return this.#get(`${count}x${d}.${name}`, name === "rows" ? [count, d, 2] : [count, d]);
  }

  /** Scratch of a slab plan. */
  slabs(plan: SlabPlan): Tensor {
    const key = `${plan.count}x${plan.d}.slabs${plan.bounds.length - 1}`;
    return this.#get(key, [slabScratchSize(plan)]);
  }
}

/** The slab plan of variant `variant` ("sym<p>"), undefined for "full"; throws when invalid. */
export function chainSlabPlan(
  gpu: Gpu,
  variant: string,
  d: number,
  count: number,
): SlabPlan | undefined {
  if (variant === "full") return undefined;
  const m = /^sym(\d+)$/.exec(variant);
  const plan = m ? planSlabs(d, count, Number(m[1]), offsetAlignFloats(gpu)) : undefined;
  if (!plan) {
    throw new RangeError(`root chain: variant "${variant}" is not valid for ${count}×${d}²`);
  }
  return plan;
}

/** Arguments of {@link recordRootChain}. */
export interface RootChainArgs {
  /** The factors (d×d each, symmetric) and where each one's root goes. */
  factors: readonly { A: Tensor; out: Tensor }[];
  /** Size of every factor. */
  d: number;
  /** A_d^(−1/2) or A_d^(1/2). */
  which: "inverse_sqrt" | "sqrt";
  /** One [c0, c1, c2] per iteration ([1.5, −0.5, 0] is Newton–Schulz, Eq. 17). */
  steps: readonly RootStepCoefficients[];
  /** Power-iteration rounds for λ̂. */
  powerRounds: number;
  /** Use this λ̂ instead of power iteration (absolute damping). */
  fixedLambda?: number;
  /** ε of A_d = A + ε·λ̂·I. */
  damping: number;
  /** What Y₀ is divided by. */
  normaliser: RootNormaliser;
  /** With a tolerance, a root is committed only when finite with residual ≤ tolerance. */
  tolerance?: number;
  /** [count, SCALAR_SLOTS]: per-factor λ̂, normaliser, residual, flags. */
  scalars: Tensor;
  /** Shared scratch. */
  workspaces: RootWorkspaces;
  /** Label prefix of the products. */
  label: string;
  /** `full` or `sym<p>` (see the module documentation). */
  variant: string;
}

/** A recorded chain. */
export interface RootChain {
  /** The commands, in order. */
  commands: Command[];
  /** Every matrix product recorded (for FLOP counts). */
  products: MatmulProblem[];
  /** Iterations of the coupled iteration. */
  iterations: number;
}

/** Records the roots of every factor of `a.factors`; see the module documentation. */
export function recordRootChain(gpu: Gpu, a: RootChainArgs): RootChain {
  const { d, workspaces: ws, steps } = a;
  const count = a.factors.length;
  check(a.label, count >= 1, "no factors");
  for (const f of a.factors) {
    checkStacked(a.label, f.A, d, 1);
    checkStacked(a.label, f.out, d, 1);
  }
  check(a.label, a.scalars.size >= count * SCALAR_SLOTS, `scalars need ${count}×${SCALAR_SLOTS}`);
  const plan = chainSlabPlan(gpu, a.variant, d, count);
  // See chain_family.ts: symmetric slabs destabilise the steep quintic steps.
  check(
    a.label,
    !plan || (a.tolerance === undefined && steps.every((s) => s[2] === 0)),
    `variant "${a.variant}" serves Newton–Schulz chains only`,
  );
  const cmds: Command[] = [];
  const products: MatmulProblem[] = [];
  const mat = (name: MatrixName) => ws.matrix(d, count, name);

  // The factors, stacked (a single factor is read where it is).
  let A = a.factors[0].A;
  if (count > 1) {
    A = mat("A");
    a.factors.forEach((f, i) => {
      const dst = view(A, i * d * d, [d, d], A.name);
      cmds.push({ kind: "copyTensor", label: `${a.label}.gather`, src: f.A, dst });
    });
  }
  cmds.push(...powerIteration(gpu, {
    A,
    d,
    count,
    rounds: a.powerRounds,
    fixedLambda: a.fixedLambda,
    damping: a.damping,
    normaliser: a.normaliser,
    scalars: a.scalars,
    work: {
      v: ws.vector(d, count, "v"),
      w: ws.vector(d, count, "w"),
      rows: ws.vector(d, count, "rows"),
    },
  }));

  // C = X·B (B symmetric), or T computed from it with `epilogue`.
  const product = (X: Tensor, B: Tensor, out: Tensor, epilogue?: AssemblyEpilogue) => {
    if (plan) {
      const r = symmetricProduct(gpu, {
        X,
        B,
        out,
        scratch: ws.slabs(plan),
        plan,
        epilogue,
        label: a.label,
      });
      cmds.push(...r.commands);
      products.push(...r.products);
      return;
    }
    const p = { m: d, n: d, k: d, batch: count };
    const target = epilogue ? (epilogue.step[2] !== 0 ? mat("M2") : mat("M")) : out;
    cmds.push(...matmul(gpu, { a: X, b: B, out: target, ...p, label: `${a.label}.mm` }));
    products.push(p);
    if (epilogue) {
      const quintic = epilogue.step[2] !== 0;
      const M = quintic ? epilogue.M! : target;
      cmds.push(
        ...polyCombine(gpu, {
          M,
          M2: quintic ? target : undefined,
          out,
          d,
          count,
          step: epilogue.step,
        }),
      );
    }
  };

  const checked = a.tolerance !== undefined;
  const keepY = (k: number) => k + 1 < steps.length || a.which === "sqrt" || checked;
  const keepZ = (k: number) => k + 1 < steps.length || a.which === "inverse_sqrt" || checked;
  let [Y, Y2, Z, Z2] = [mat("Y"), mat("Y2"), mat("Z"), mat("Z2")];
  const fuseFirst = steps.length > 0 && steps[0][2] === 0;
  cmds.push(...rootStart(gpu, {
    A,
    Y,
    Z: steps.length === 0 || fuseFirst ? Z : undefined,
    d,
    count,
    damping: a.damping,
    scalars: a.scalars,
    first: fuseFirst ? steps[0] : undefined,
    symmetrise: plan !== undefined,
  }));
  steps.forEach((step, k) => {
    if (k === 0) {
      // Z₀ = I: M₁ = Y₀, and T₁ (written straight into Z) is Z₁.
      if (!fuseFirst) product(Y, Y, Z, { step, M: Y });
    } else if (step[2] === 0) {
      product(Z, Y, mat("T"), { step });
    } else {
      product(Z, Y, mat("M"));
      product(mat("M"), mat("M"), mat("T"), { step, M: mat("M") });
    }
    const T = k === 0 ? Z : mat("T");
    if (keepY(k)) {
      product(Y, T, Y2);
      [Y, Y2] = [Y2, Y];
    }
    if (k > 0 && keepZ(k)) {
      product(T, Z, Z2);
      [Z, Z2] = [Z2, Z];
    }
  });

  const X = a.which === "inverse_sqrt" ? Z : Y;
  if (checked) {
    product(Z, Y, mat("M"));
    cmds.push(...rootCheck(gpu, {
      M: mat("M"),
      X,
      d,
      count,
      tolerance: a.tolerance!,
      scalars: a.scalars,
      rows: ws.vector(d, count, "rows"),
    }));
  }
  const power = a.which === "inverse_sqrt" ? -0.5 : 0.5;
  a.factors.forEach((f, index) => {
    cmds.push(
      ...rootCommit(gpu, { X, root: f.out, d, index, power, scalars: a.scalars, checked }),
    );
  });
  return { commands: cmds, products, iterations: steps.length };
}
