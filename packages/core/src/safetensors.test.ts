import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError, MissingResourceError } from './errors.js';
import {
  fromFloat32,
  jsonDepth,
  parseJsonBounded,
  parseSafetensors,
  serializeSafetensors,
  toFloat32,
} from './safetensors.js';
import { readSafetensors, writeSafetensors } from './safetensors-files.js';

const concat = (chunks: Uint8Array[]) => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
};

const handMade = (header: object, dataBytes: number) => {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  return concat([prefix, json, new Uint8Array(dataBytes)]);
};

const sharedModel = join(__dirname, '../../../../shared/models/bert-tiny-mlm-offline/model.safetensors');

describe('safetensors', () => {
  it('round-trips tensors and metadata, with an 8-byte aligned header', async () => {
    const a = Float32Array.from([1.5, -2, 3.25, 0]);
    const file = concat(
      serializeSafetensors(
        [
          { name: 'a', dtype: 'F32', shape: [2, 2], data: fromFloat32(a, 'F32') },
          { name: 'b', dtype: 'F16', shape: [4], data: fromFloat32(a, 'F16') },
          { name: 'c', dtype: 'U8', shape: [3], data: Uint8Array.from([7, 8, 9]) },
        ],
        { format: 'test' },
      ),
    );
    const headerLength = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const parsed = parseSafetensors(file);
    expect(parsed.metadata).toEqual({ format: 'test' });
    expect(parsed.tensors.map((t) => t.name)).toEqual(['a', 'b', 'c']);
    expect(Array.from(toFloat32(parsed.get('a')!))).toEqual(Array.from(a));
    expect(Array.from(toFloat32(parsed.get('b')!))).toEqual(Array.from(a));
    expect(Array.from(parsed.get('c')!.data)).toEqual([7, 8, 9]);

    const dir = await mkdtemp(join(tmpdir(), 'dp-st-'));
    await writeSafetensors(join(dir, 'x.safetensors'), parsed.tensors, parsed.metadata);
    const again = await readSafetensors(join(dir, 'x.safetensors'));
    expect(again.get('c')!.shape).toEqual([3]);
  });

  it.skipIf(!existsSync(sharedModel))('reads a real HF checkpoint (../shared/models)', async () => {
    const file = await readSafetensors(sharedModel);
    const embeddings = file.get('bert.embeddings.word_embeddings.weight');
    expect(embeddings?.dtype).toBe('F32');
    expect(embeddings?.shape).toEqual([30522, 128]);
    const values = toFloat32(embeddings!);
    expect(values.every(Number.isFinite)).toBe(true);
  });

  it('rejects malformed files with errors that say what was expected and found', () => {
    expect(() => parseSafetensors(new Uint8Array(3))).toThrow(/expected at least 8 bytes.*found 3 bytes/);
    const beyond = new Uint8Array(16);
    new DataView(beyond.buffer).setBigUint64(0, 1000n, true);
    expect(() => parseSafetensors(beyond, { path: 'f' })).toThrow(
      /f: header length: expected at most 8 bytes/,
    );
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    expect(() => parseSafetensors(huge)).toThrow(/at most 100000000 bytes/);
    expect(() =>
      parseSafetensors(handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4)),
    ).toThrow(/end <= 4/);
    expect(() =>
      parseSafetensors(handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)),
    ).toThrow(/12 bytes for F32\[3\]/);
    expect(() =>
      parseSafetensors(
        handMade(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
          },
          12,
        ),
      ),
    ).toThrow(/no overlap with a/);
    expect(() =>
      parseSafetensors(handMade({ a: { dtype: 'Q4', shape: [2], data_offsets: [0, 1] } }, 1)),
    ).toThrow(FormatError);
  });

  it("refuses trailing bytes after the data section, as HF's reader does (issue #15)", () => {
    const file = concat(
      serializeSafetensors([{ name: 'a', dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) }]),
    );
    expect(parseSafetensors(file).get('a')!.shape).toEqual([3]);
    const padded = concat([file, Uint8Array.from([0])]);
    expect(() => parseSafetensors(padded, { path: 'p' })).toThrow(FormatError);
    expect(() => parseSafetensors(padded, { path: 'p' })).toThrow(/p: data: .*found 1 trailing bytes/);
    // A file without tensors has no data section at all.
    expect(() => parseSafetensors(handMade({}, 2))).toThrow(/2 trailing bytes/);
    expect(parseSafetensors(handMade({}, 0)).tensors).toEqual([]);
  });

  it('refuses a header with more tensors than the limit, before building it (issue #15: 300k tensors)', () => {
    const entry = (i: number) => `"t${i}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`;
    const headerText = `{${Array.from({ length: 300_000 }, (_, i) => entry(i)).join(',')}}`;
    const json = new TextEncoder().encode(headerText);
    const file = new Uint8Array(8 + json.byteLength);
    new DataView(file.buffer).setBigUint64(0, BigInt(json.byteLength), true);
    file.set(json, 8);
    // Counted by a scan before JSON.parse builds the entries (the count is exact, not an estimate).
    expect(() => parseSafetensors(file)).toThrow(/at most 65536 tensors .*found 300000 tensors/);
    expect(() => parseSafetensors(file, { maxTensors: 299_999 })).toThrow(/found 300000 tensors/);
    const small = handMade(JSON.parse(`{${Array.from({ length: 10 }, (_, i) => entry(i)).join(',')}}`), 0);
    expect(parseSafetensors(small, { maxTensors: 10 }).tensors).toHaveLength(10);
    expect(() => parseSafetensors(small, { maxTensors: 9 })).toThrow(/at most 9 tensors .*found 10 tensors/);
  });

  it('bounds JSON nesting before parsing (issue #15: metadata nested 200k deep)', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(jsonDepth(deep)).toBe(200_000);
    expect(jsonDepth('{"a":"[[[[","b":[1,{"c":"\\"}]}')).toBe(3);
    expect(jsonDepth('{"a\\":"}"}')).toBe(1);
    expect(() => parseJsonBounded(deep, { what: 'method_settings', path: 'x' })).toThrow(
      /x: method_settings: expected JSON nested at most 64 deep/,
    );
    expect(parseJsonBounded('{"a":[1]}', { what: 'w' })).toEqual({ a: [1] });
    expect(() => parseJsonBounded('{', { what: 'w' })).toThrow(/w: expected valid JSON/);
    // In a header: a tensor entry nested deeper than { name: { shape: [..] } }.
    expect(() =>
      parseSafetensors(handMade({ a: { dtype: 'U8', shape: [[[0]]], data_offsets: [0, 0] } }, 0)),
    ).toThrow(/header: expected JSON nested at most 3 deep/);
  });

  it('reports a missing file or a directory as typed errors naming the path (issue #15: EISDIR)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-st-'));
    await expect(readSafetensors(join(dir, 'absent.safetensors'))).rejects.toThrow(MissingResourceError);
    await mkdir(join(dir, 'model.safetensors'));
    await expect(readSafetensors(join(dir, 'model.safetensors'))).rejects.toThrow(InvalidArgumentError);
    await expect(readSafetensors(join(dir, 'model.safetensors'))).rejects.toThrow(
      /a file .*found "the directory/,
    );
    await writeFile(join(dir, 'ok.safetensors'), concat(serializeSafetensors([])));
    expect((await readSafetensors(join(dir, 'ok.safetensors'))).tensors).toEqual([]);
  });
});
