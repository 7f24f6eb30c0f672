/**
 * Minimal assertions (JSR's @std/assert is unreachable here; node:assert is
 * used underneath for deep equality).
 * @module
 */
import { deepStrictEqual } from "node:assert";

/** Throws unless `cond` is truthy. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Deep, strict equality (typed arrays compared element-wise). */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  deepStrictEqual(actual, expected, msg);
}

/** Expects `fn` to throw an instance of `cls`; returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  cls: new (...a: never[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof cls)) throw new Error(`expected ${cls.name}, got ${e}`);
    if (includes && !e.message.includes(includes)) {
      throw new Error(`error message "${e.message}" lacks "${includes}"`);
    }
    return e;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

/** Expects the promise from `fn` to reject with `cls`; returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: new (...a: never[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof cls)) throw new Error(`expected ${cls.name}, got ${e}`);
    if (includes && !e.message.includes(includes)) {
      throw new Error(`error message "${e.message}" lacks "${includes}"`);
    }
    return e;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}
