/**
 * Asking whether a permission is granted without ever prompting: optional
 * features (a private runtime directory, the tuning cache, the backend
 * choice) skip themselves when it is not.
 * @module
 */

/** True when `desc` is granted; false when it is not, or cannot be asked. */
export function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}
