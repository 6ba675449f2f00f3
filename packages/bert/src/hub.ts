import { type LoadBackboneOptions, MissingResourceError, type ModelSource } from '@diffprune/core';

/** Downloads (or finds in the cache) a hub model's files; returns where they are. */
export async function resolveHubModel(
  id: string,
  _options: Omit<LoadBackboneOptions, 'head'> = {},
): Promise<ModelSource> {
  throw new MissingResourceError({
    resource: id,
    hint: 'not a local directory; hub downloads are not implemented yet',
  });
}
