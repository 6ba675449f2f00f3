import { createHash } from 'node:crypto';
import {
  CheckpointMismatchError,
  FormatError,
  InvalidArgumentError,
  ShapeMismatchError,
} from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { applyDiff } from './apply.js';
import { createDiff, createDiffFromMask } from './create.js';
import { decodeEliasFano, decodeVarintDelta, encodeEliasFano } from './encodings.js';
import { encodeDiff } from './file.js';
import { readDiff } from './file-node.js';
import { concat, createRng, randomTensors, testProvenance } from './test-helpers.js';
import type { IndexEncoding, TensorArrays } from './types.js';

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & {
  __metadata__: Record<string, string>;
};

/** Splits a safetensors file into its header and each tensor's bytes (a reader independent of core's). */
function split(bytes: Uint8Array) {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Header;
  const data: Record<string, Uint8Array> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entry as Header[string];
    data[name] = bytes.slice(8 + length + e.data_offsets[0], 8 + length + e.data_offsets[1]);
  }
  return { header, data, length };
}

/** Reassembles a file; offsets are recomputed unless `keepOffsets` (to plant bad ones). */
function join(header: Header, data: Record<string, Uint8Array>, keepOffsets = false) {
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const [name, bytes] of Object.entries(data)) {
    if (!keepOffsets) header[name]!.data_offsets = [offset, offset + bytes.length];
    offset += bytes.length;
    chunks.push(bytes);
  }
  // Keep the data checksum true, so the planted problem is what the reader meets.
  if (header.__metadata__?.data_sha256 !== undefined)
    header.__metadata__.data_sha256 = createHash('sha256').update(concat(chunks)).digest('hex');
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat([prefix, json, ...chunks]);
}

function table(header: Header) {
  return JSON.parse(header.__metadata__.tensors!) as Record<string, Record<string, unknown>>;
}

function setTable(header: Header, edit: (t: Record<string, Record<string, unknown>>) => void) {
  const t = table(header);
  edit(t);
  header.__metadata__.tensors = JSON.stringify(t);
}

function sample(encoding: IndexEncoding = 'varint-delta') {
  const rng = createRng(1);
  const base = randomTensors(rng, { w: [10, 10], v: [8] });
  const tuned: TensorArrays = structuredClone(base);
  for (const p of [3, 17, 50, 99]) tuned.w!.values[p]! += 1;
  tuned['x.head'] = { shape: [4], values: Float32Array.of(1, 2, 3, 4) };
  tuned['y.head'] = { shape: [4], values: Float32Array.of(5, 6, 7, 8) };
  const diff = createDiff({ base, tuned, provenance: testProvenance(), indexEncoding: encoding });
  return { base, diff, bytes: concat(encodeDiff(diff)) };
}

/** Asserts a FormatError whose message names both what was expected and what was found. */
function expectFormatError(run: () => unknown, expected: RegExp, found?: RegExp) {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(FormatError);
  const message = (error as FormatError).message;
  expect((error as FormatError).expected).toMatch(expected);
  if (found) expect((error as FormatError).found).toMatch(found);
  expect(message).toMatch(/expected .*; found /);
}

describe('readDiff refuses bad files with typed errors', () => {
  it('reads the untouched sample', () => {
    expect(readDiff(sample().bytes).tensors).toHaveLength(4);
  });

  it('truncated files', () => {
    const { bytes } = sample();
    expectFormatError(() => readDiff(bytes.subarray(0, 5)), /at least 8 bytes/, /5 bytes/);
    expectFormatError(() => readDiff(bytes.subarray(0, 40)), /at most 32 bytes/);
    expectFormatError(() => readDiff(bytes.subarray(0, bytes.length - 1)), /end <= /);
  });

  it('a header length beyond the file, and the header cap', () => {
    const { bytes } = sample();
    const copy = bytes.slice();
    new DataView(copy.buffer).setBigUint64(0, BigInt(bytes.length), true);
    expectFormatError(() => readDiff(copy), /file's size less 8/, new RegExp(`${bytes.length} bytes`));
    new DataView(copy.buffer).setBigUint64(0, 2n ** 62n, true);
    expectFormatError(() => readDiff(copy), /at most 67108864 bytes/);
    expectFormatError(() => readDiff(bytes, { maxHeaderBytes: 64 }), /at most 64 bytes/);
  });

  it('overlapping and out-of-range data offsets', () => {
    const { header, data } = split(sample().bytes);
    const overlapping = structuredClone(header);
    overlapping['y.head']!.data_offsets = [...overlapping['x.head']!.data_offsets];
    expectFormatError(() => readDiff(join(overlapping, data, true)), /no overlap/);
    const outside = structuredClone(header);
    const [begin] = outside['y.head']!.data_offsets;
    outside['y.head']!.data_offsets = [begin + 10_000, begin + 10_016];
    expectFormatError(() => readDiff(join(outside, data, true)), /end <= /, new RegExp(`${begin + 10_016}`));
  });

  for (const encoding of ['varint-delta', 'elias-fano'] as const) {
    it(`${encoding}: indices out of range (table shape smaller than the positions)`, () => {
      const { header, data } = split(sample(encoding).bytes);
      setTable(header, (t) => {
        t.w!.shape = [6, 10]; // positions go up to 99
      });
      if (encoding === 'elias-fano') {
        // The stream's layout depends on n (here the same size, l = 3 instead of 4): some check fails.
        expectFormatError(() => readDiff(join(header, data)), /./);
      } else {
        expectFormatError(() => readDiff(join(header, data)), /positions < 60/, /position 99/);
      }
    });
  }

  it('varint-delta: unsorted (repeated) positions, truncated and trailing streams', () => {
    const context = { tensor: 'w.indices' };
    expectFormatError(
      () => decodeVarintDelta(Uint8Array.of(5, 0), 100, 2, context),
      /strictly increasing/,
      /repeated position 5/,
    );
    expectFormatError(
      () => decodeVarintDelta(Uint8Array.of(5, 0x81), 1000, 2, context),
      /positions/,
      /truncated varint/,
    );
    expectFormatError(
      () => decodeVarintDelta(Uint8Array.of(5, 1, 1), 100, 2, context),
      /stream of 2 bytes/,
      /1 trailing/,
    );
    expectFormatError(() => decodeVarintDelta(Uint8Array.of(5), 100, 2, context), /2 varint-delta positions/);
    expectFormatError(
      () => decodeVarintDelta(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01), 2 ** 32, 1, context),
      /at most 5 bytes/,
    );
  });

  it('elias-fano: duplicate positions, high parts out of range, nonzero padding', () => {
    const context = { tensor: 'w.indices' };
    // n = 16, k = 2 → l = 3; lows 5, 5 = bits 101 101; highs 0, 0 → bits 0 and 1.
    expectFormatError(
      () => decodeEliasFano(Uint8Array.of(0b101101, 0b11), 16, 2, context),
      /strictly increasing/,
      /position 5 after 5/,
    );
    // high part 2 > (16 − 1) >> 3 = 1.
    expectFormatError(() => decodeEliasFano(Uint8Array.of(0, 0b1001), 16, 2, context), /positions < 16/);
    const good = encodeEliasFano(Uint32Array.of(3, 12), 16);
    expect(Array.from(decodeEliasFano(good, 16, 2, context))).toEqual([3, 12]);
    const padded = good.slice();
    padded[0]! |= 0x80; // bit 7 of the low part: beyond 2 × 3 bits
    expectFormatError(() => decodeEliasFano(padded, 16, 2, context), /zero padding/);
    expectFormatError(
      () => decodeEliasFano(good.subarray(0, 1), 16, 2, context),
      /2 bytes of elias-fano/,
      /1 bytes/,
    );
  });

  it('nnz mismatches: values vs table, stream vs table', () => {
    const { header, data } = split(sample().bytes);
    const a = structuredClone(header);
    setTable(a, (t) => {
      t.w!.nnz = 3;
    });
    expectFormatError(() => readDiff(join(a, { ...data })), /\[3\] \(nnz in the table\)/, /\[4\]/);
    // Values trimmed to 3 as well: now the stream holds more positions than nnz.
    const b = structuredClone(a);
    const values = data['w.values']!.slice(0, 12);
    b['w.values']!.shape = [3];
    expectFormatError(
      () => readDiff(join(b, { ...data, 'w.values': values })),
      /stream of \d+ bytes for 3 positions/,
      /trailing/,
    );
    const c = structuredClone(header);
    setTable(c, (t) => {
      t['x.head']!.nnz = 3;
    });
    expectFormatError(() => readDiff(join(c, { ...data })), /dense tensor's element count/);
  });

  it('unknown encoding, unknown version, not a diff, bad metadata', () => {
    const { header, data } = split(sample().bytes);
    const a = structuredClone(header);
    setTable(a, (t) => {
      t.w!.index_encoding = 'golomb-rice';
    });
    expectFormatError(() => readDiff(join(a, { ...data })), /varint-delta, elias-fano/, /golomb-rice/);
    const b = structuredClone(header);
    b.__metadata__.format_version = '2';
    expectFormatError(() => readDiff(join(b, { ...data })), /"1"/, /"2"/);
    const c = structuredClone(header);
    delete (c as Partial<Header>).__metadata__;
    expectFormatError(() => readDiff(join(c, { ...data })), /diffprune.sparse-diff/, /not a diffprune diff/);
    const d = structuredClone(header);
    d.__metadata__.method_settings = '{oops';
    expectFormatError(() => readDiff(join(d, { ...data })), /JSON object/);
    const e = structuredClone(header);
    setTable(e, (t) => {
      t.w!.value_dtype = 'F64';
    });
    expectFormatError(() => readDiff(join(e, { ...data })), /F32, F16, BF16/, /F64/);
    const f = structuredClone(header);
    setTable(f, (t) => {
      t.w!.value_dtype = 'F16';
    });
    expectFormatError(() => readDiff(join(f, { ...data })), /F16/, /F32/);
    const g = structuredClone(header);
    setTable(g, (t) => {
      delete t.v;
    });
    expectFormatError(() => readDiff(join(g, { ...data })), /only tensors listed/, /v\.indices/);
    const i8 = split(
      concat(
        encodeDiff(
          createDiff({ ...sample(), tuned: sample().base, provenance: testProvenance(), valueDtype: 'I8' }),
        ),
      ),
    );
    for (const scale of [undefined, -1, 0, 'x']) {
      setTable(i8.header, (t) => {
        t.w!.scale = scale;
      });
      expectFormatError(() => readDiff(join(i8.header, { ...i8.data })), /finite positive number/);
    }
    const h = structuredClone(header);
    h.__metadata__.base_fingerprint = 'xyz';
    expectFormatError(() => readDiff(join(h, { ...data })), /sha256/);
  });
});

describe('bad arguments', () => {
  const base = randomTensors(createRng(2), { w: [4, 5] });

  it('applyDiff: a shape mismatch, missing tensors (all named at once)', () => {
    const { diff } = sample();
    const wrong = { ...sample().base, w: { shape: [100], values: new Float32Array(100) } };
    expect(() => applyDiff(wrong, diff)).toThrow(ShapeMismatchError);
    expect(() => applyDiff(wrong, diff)).toThrow(/w must have shape \[10, 10\]; found \[100\]/);
    const missing = { w: wrong.w };
    let error: unknown;
    try {
      applyDiff(missing, diff);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    expect((error as CheckpointMismatchError).missing).toEqual(['v']);
    expect((error as CheckpointMismatchError).mismatched.map((m) => m.name)).toEqual(['w']);
  });

  it('createDiff: shape mismatch, wrong value counts, bad options', () => {
    const tuned = { w: { shape: [5, 4], values: new Float32Array(20) } };
    expect(() => createDiff({ base, tuned, provenance: testProvenance() })).toThrow(ShapeMismatchError);
    const short = { w: { shape: [4, 5], values: new Float32Array(3) } };
    expect(() => createDiff({ base, tuned: short, provenance: testProvenance() })).toThrow(
      /20 values for shape/,
    );
    expect(() =>
      createDiff({ base, tuned: base, provenance: testProvenance(), indexEncoding: 'x' as IndexEncoding }),
    ).toThrow(InvalidArgumentError);
    expect(() => createDiff({ base, tuned: base, provenance: testProvenance('nope') })).toThrow(/sha256/);
    expect(() => createDiff({ base, tuned: base, dense: ['nope'], provenance: testProvenance() })).toThrow(
      InvalidArgumentError,
    );
  });

  it('createDiffFromMask: unsorted or out-of-range indices, clashing names', () => {
    const make = (indices: number[]) =>
      createDiffFromMask({
        shapes: { w: [4, 5] },
        sparse: { w: { indices, values: new Float32Array(indices.length) } },
        provenance: testProvenance(),
      });
    expect(() => make([3, 2])).toThrow(/strictly increasing/);
    expect(() => make([3, 3])).toThrow(/strictly increasing/);
    expect(() => make([20])).toThrow(/\[0, 20\)/);
    expect(() =>
      createDiffFromMask({
        shapes: { w: [2], 'w.values': [1] },
        sparse: {},
        provenance: testProvenance(),
      }),
    ).toThrow(/clash/);
  });
});
