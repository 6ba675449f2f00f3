import { describe, expect, it } from 'vitest';
import { compareNames } from './checks.js';

describe('compareNames (UTF-8 byte order, browser-safe)', () => {
  it("orders as Node's Buffer.compare of the UTF-8 bytes, astral characters and lone surrogates included", () => {
    const pieces = ['a', 'b', 'A', '.', '0', 'é', '\uE000', '\uFFFF', '😀', '\uD800', '\uDFFF', ''];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const word = () =>
      Array.from(
        { length: Math.floor(random() * 4) },
        () => pieces[Math.floor(random() * pieces.length)],
      ).join('');
    for (let i = 0; i < 2000; i++) {
      const a = word();
      const b = random() < 0.2 ? a : word();
      expect([a, b, compareNames(a, b)]).toEqual([
        a,
        b,
        Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')),
      ]);
    }
  });

  it('differs from UTF-16 order where they disagree (U+E000 before U+1F600 in UTF-8)', () => {
    expect(compareNames('\uE000', '😀')).toBe(-1);
    expect('\uE000' < '😀').toBe(false);
  });
});
