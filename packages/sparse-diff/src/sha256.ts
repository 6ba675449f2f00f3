import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

// sha256 from @noble/hashes (audited, pure JS, no dependencies): the same digests as node:crypto in
// Node and in the browser, synchronously (WebCrypto's digest is async only, which would make
// `decodeDiff` and `encodeDiff` async).

/** An incremental sha256: `update` with byte chunks, then `hex` once. */
export interface Sha256 {
  update(bytes: Uint8Array): Sha256;
  hex(): string;
}

export function createSha256(): Sha256 {
  const hash = sha256.create();
  const self: Sha256 = {
    update(bytes) {
      hash.update(bytes);
      return self;
    },
    hex: () => bytesToHex(hash.digest()),
  };
  return self;
}
