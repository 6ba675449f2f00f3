import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSha256 } from './sha256.js';

// The browser entry hashes with @noble/hashes; Node's crypto is the second implementation.
describe('createSha256 (the browser-safe hash of data_sha256 and fingerprints)', () => {
  it('gives node:crypto sha256 digests, in one chunk and in many', () => {
    for (const size of [0, 1, 55, 56, 64, 1000, 100_003]) {
      const bytes = new Uint8Array(randomBytes(size));
      const expected = createHash('sha256').update(bytes).digest('hex');
      expect(createSha256().update(bytes).hex()).toBe(expected);
      const chunked = createSha256();
      for (let start = 0; start < size; start += 777) chunked.update(bytes.subarray(start, start + 777));
      expect(chunked.hex()).toBe(expected);
    }
  });

  it('differs from node:crypto when one byte differs (the comparison can fail)', () => {
    const bytes = new Uint8Array(randomBytes(64));
    const expected = createHash('sha256').update(bytes).digest('hex');
    bytes[7] = (bytes[7]! + 1) % 256;
    expect(createSha256().update(bytes).hex()).not.toBe(expected);
  });
});
