/**
 * Crash-safe file replacement: write to `<path>.tmp-<pid>`, flush, rename.
 * A writer killed mid-write leaves only its temporary file behind; the next
 * writer in the same folder removes such leftovers.
 * @module
 */

const TEMP_SUFFIX = /\.tmp-(\d+)$/;

/** Writes `bytes` to `path` through a flushed temporary file and a rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    let written = 0;
    while (written < bytes.length) written += await f.write(bytes.subarray(written));
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
}

/**
 * Removes the temporary files (`*.tmp-<pid>`) that writers other than this
 * process left in `dir`; returns their names.
 *
 * A folder written this way belongs to one run, and a run to one process at a
 * time (train refuses a directory that holds a run), so a temporary file of
 * another pid is a killed writer's leftover: that process is gone, or the pid
 * now belongs to an unrelated process. Whether the pid is alive cannot be
 * asked under the tasks' permissions (Deno.kill needs unrestricted
 * `--allow-run`), and is not needed. Files of this process are never touched.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  for (const e of entries) {
    const m = TEMP_SUFFIX.exec(e.name);
    if (!e.isFile || !m || Number(m[1]) === Deno.pid) continue;
    try {
      await Deno.remove(`${dir}/${e.name}`);
      removed.push(e.name);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return removed;
}
