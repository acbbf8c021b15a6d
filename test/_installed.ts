/** Whether an (optional) package can be loaded here: tfjs-node and tfjs-node-gpu are on GPU nodes, not on this machine. */
export function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
