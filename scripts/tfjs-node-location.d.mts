/** tfjs-node's package directory as one of the apps under `root` resolves it, else undefined. */
export function tfjsNodeDirectory(root: string): string | undefined;
/** Whether tfjs-node's install step has built its native binding. */
export function bindingBuilt(directory: string): boolean;
