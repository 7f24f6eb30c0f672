/**
 * The loss section.
 * @module
 */
import { z } from "zod";
import { fraction } from "./primitives.ts";

/** Cross-entropy on logits. */
const CrossEntropyLoss = z
  .strictObject({
    type: z.literal("cross_entropy"),
    label_smoothing: fraction.default(0).describe(
      "Target = (1 − ε)·one_hot + ε/classes (PyTorch `label_smoothing`).",
    ),
  })
  .describe(
    "Softmax cross-entropy on the logits, averaged over the batch (PyTorch `nn.CrossEntropyLoss`).",
  );

/** The loss section; the plain string `cross_entropy` is short for `{type: cross_entropy}`. */
export const LossSchema = z
  .preprocess(
    (v) => (typeof v === "string" ? { type: v } : v),
    z.discriminatedUnion("type", [CrossEntropyLoss]),
  )
  .describe(
    "Training loss; a bare name such as `cross_entropy` is short for `{type: cross_entropy}`.",
  );
