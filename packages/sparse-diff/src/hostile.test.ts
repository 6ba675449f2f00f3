// Hostile and corrupt files (issue #15): each test here fails on the code before the fix.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DiffpruneEvent,
  FormatError,
  InvalidArgumentError,
  MissingResourceError,
  NonFiniteValueError,
  serializeSafetensors,
} from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { applyDiff, revertDiff } from './apply.js';
import { tensorMap } from './checks.js';
import { composeDiffs } from './compose.js';
import { createDiff } from './create.js';
import { describeDiff, escapeControlCharacters } from './describe.js';
import { encodeDiff } from './file.js';
import { readDiff } from './file-node.js';
import { fingerprintTensorArrays } from './fingerprint.js';
import {
  checkpointWeightFiles,
  fingerprintCheckpoint,
  readCheckpointTensors,
} from './fingerprint-checkpoint.js';
import { concat, createRng, perturb, randomTensors, testProvenance } from './test-helpers.js';
import type { TensorArrays } from './types.js';
import { verifyDiff } from './verify.js';

/** Header JSON, data section and header length of a safetensors file (independent of core's parser). */
function split(bytes: Uint8Array) {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<
    string,
    unknown
  > & {
    __metadata__: Record<string, string>;
  };
  return { header, data: bytes.slice(8 + length), length };
}

/** A file from a header object and a data section (the checksum is recomputed when `rehash`). */
function assemble(header: ReturnType<typeof split>['header'], data: Uint8Array, rehash = true) {
  if (rehash && header.__metadata__.data_sha256 !== undefined)
    header.__metadata__.data_sha256 = createHash('sha256').update(data).digest('hex');
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat([prefix, json, data]);
}

function sample(seed = 5) {
  const rng = createRng(seed);
  const base = randomTensors(rng, { w: [40, 30], b: [30], head: [2, 30] });
  const { tuned } = perturb(rng, base, 0.05);
  const diff = createDiff({
    base,
    tuned,
    dense: ['head'],
    provenance: testProvenance(fingerprintTensorArrays(base)),
  });
  return { base, tuned, diff, bytes: concat(encodeDiff(diff)) };
}

describe('diff integrity: data_sha256 (issue #15)', () => {
  it('refuses every single-byte flip in the index and value data with a FormatError', () => {
    const { bytes } = sample();
    const { length } = split(bytes);
    const dataStart = 8 + length;
    expect(bytes.length - dataStart).toBeGreaterThan(100);
    let refused = 0;
    for (let position = dataStart; position < bytes.length; position++) {
      const flipped = bytes.slice();
      flipped[position] = flipped[position]! ^ 0x01;
      expect(() => readDiff(flipped), `flip at byte ${position}`).toThrow(FormatError);
      try {
        readDiff(flipped);
      } catch (error) {
        if (/data_sha256: expected the data section to hash to/.test((error as Error).message)) refused++;
      }
    }
    expect(refused).toBe(bytes.length - dataStart);
    expect(readDiff(bytes).tensors.length).toBe(3);
  });

  it('writes format 1.2: format_version "1", format_minor_version "2" and the sha256 of the data section', () => {
    const { bytes } = sample();
    const { header, data } = split(bytes);
    expect(header.__metadata__.format_version).toBe('1');
    expect(header.__metadata__.format_minor_version).toBe('2');
    expect(header.__metadata__.data_sha256).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('accepts a 1.0 file (no checksum) with a warning event, and refuses a 1.1 file whose checksum was removed', () => {
    const { bytes } = sample();
    const { header, data } = split(bytes);
    delete (header.__metadata__ as Partial<Record<string, string>>).data_sha256;
    const stripped = assemble(structuredClone(header), data);
    expect(() => readDiff(stripped)).toThrow(/data_sha256: expected the data checksum .*found none/);
    delete (header.__metadata__ as Partial<Record<string, string>>).format_minor_version;
    const events: DiffpruneEvent[] = [];
    const old = readDiff(assemble(header, data), { onEvent: (e) => events.push(e) });
    expect(old.tensors.length).toBe(3);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'warning-raise',
        message: expect.stringMatching(/without a data checksum/),
      }),
    ]);
    const bad = structuredClone(split(bytes).header);
    bad.__metadata__.format_minor_version = 'x';
    expect(() => readDiff(assemble(bad, data))).toThrow(
      /format_minor_version: expected a non-negative integer/,
    );
  });

  it('refuses trailing bytes after the data section', () => {
    const { bytes } = sample();
    expect(() => readDiff(concat([bytes, new Uint8Array([0, 0, 0, 0])]))).toThrow(/4 trailing bytes/);
  });
});

describe('non-finite values (issue #15)', () => {
  const plant = (bytes: Uint8Array, stored: string, index: number, value: number) => {
    const { header, data } = split(bytes);
    const entry = header[stored] as { data_offsets: [number, number] };
    new DataView(data.buffer, data.byteOffset).setFloat32(entry.data_offsets[0] + 4 * index, value, true);
    return assemble(header, data);
  };

  it('readDiff refuses NaN and ±Infinity, naming the tensor and the position', () => {
    const { bytes } = sample();
    for (const [stored, value] of [
      ['w.values', Number.NaN],
      ['w.values', Number.POSITIVE_INFINITY],
      ['head', Number.NEGATIVE_INFINITY],
    ] as const) {
      const file = plant(bytes, stored, 3, value);
      let error: unknown;
      try {
        readDiff(file, { path: 'x.safetensors' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(NonFiniteValueError);
      expect(error).toMatchObject({ tensor: stored, position: 3, path: 'x.safetensors', count: 1 });
      expect((error as Error).message).toMatch(
        `${stored} must hold finite values; found ${value} at position 3`,
      );
    }
  });

  it('encodeDiff and verifyDiff refuse a diff holding NaN (a diverged run)', () => {
    const { diff, base } = sample();
    const broken = structuredClone(diff);
    broken.tensors[0]!.values[0] = Number.NaN;
    expect(() => encodeDiff(broken)).toThrow(NonFiniteValueError);
    const result = verifyDiff(broken, { base });
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toMatch(/must hold finite values; found NaN/);
  });
});

describe('tensor names that are Object.prototype members (issue #15)', () => {
  const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];

  const hostileMaps = () => {
    const rng = createRng(9);
    const plain = randomTensors(rng, { x: [4, 3] });
    const base = tensorMap<TensorArrays[string]>(plain);
    const tuned = tensorMap<TensorArrays[string]>(plain);
    for (const [i, name] of names.entries()) {
      const values = Float32Array.from({ length: 6 }, (_, j) => (i + 1) * 0.1 + j * 0.01);
      Object.defineProperty(base, name, {
        value: { shape: [2, 3], values },
        enumerable: true,
        writable: true,
        configurable: true,
      });
      const changed = values.slice();
      changed[i % 6] = changed[i % 6]! + 0.5;
      Object.defineProperty(tuned, name, {
        value: { shape: [2, 3], values: changed },
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return { base, tuned };
  };

  it('create, encode, read, verify, apply, revert and compose handle them as ordinary names', () => {
    const { base, tuned } = hostileMaps();
    const diff = createDiff({ base, tuned, provenance: testProvenance(fingerprintTensorArrays(base)) });
    const read = readDiff(concat(encodeDiff(diff)));
    expect(read.tensors.map((t) => t.name).sort()).toEqual([...names, 'x'].sort());
    expect(verifyDiff(read, { base }).ok).toBe(true);
    const applied = applyDiff(base, read);
    for (const name of names) {
      expect(Object.hasOwn(applied, name)).toBe(true);
      expect(Array.from(applied[name]!.values)).toEqual(Array.from(tuned[name]!.values));
    }
    expect(Object.getPrototypeOf(applied)).toBe(null);
    const reverted = revertDiff(applied, read);
    // θ − δ is base up to float32 rounding (exact only where θ = base + δ was).
    for (const name of names)
      for (const [k, v] of reverted[name]!.values.entries()) expect(v).toBeCloseTo(base[name]!.values[k]!, 6);
    const { diff: twice } = composeDiffs([read, read]);
    expect(twice.tensors.find((t) => t.name === '__proto__')?.kind).toBe('sparse');
    // A plain-object base (as a caller would build) lacking these tensors: a typed mismatch, not a crash.
    expect(() => applyDiff({ x: base.x! }, read)).toThrow(/missing \(5\): .*constructor/);
    expect(verifyDiff(read, { base: { x: base.x! } }).problems.join('\n')).toMatch(
      /toString: expected in the base/,
    );
  });
});

describe('hostile headers (issue #15)', () => {
  it('refuses method_settings nested 200k deep with a FormatError (no stack overflow)', () => {
    const { bytes } = sample();
    const { header, data } = split(bytes);
    header.__metadata__.method_settings = `{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    expect(() => readDiff(assemble(header, data))).toThrow(FormatError);
    expect(() => readDiff(assemble(header, data))).toThrow(
      /method_settings: expected JSON nested at most 64 deep/,
    );
  });

  it('refuses a table of 300k tensors before sorting it', () => {
    const { bytes } = sample();
    const { header, data } = split(bytes);
    const entry = JSON.stringify((JSON.parse(header.__metadata__.tensors!) as Record<string, unknown>).b);
    header.__metadata__.tensors = `{${Array.from({ length: 300_000 }, (_, k) => `"t${k}":${entry}`).join(',')}}`;
    expect(() => readDiff(assemble(header, data))).toThrow(
      /__metadata__.tensors: expected at most 65536 entries/,
    );
  });

  it('describeDiff escapes control characters in task, base and method', () => {
    const { diff } = sample();
    const hostile = structuredClone(diff);
    hostile.provenance.task = 'sst2\u001b[2J\u001b[31mPWNED\r\u0007';
    hostile.provenance.baseModel.id = 'bert\u202etxt.exe\n';
    const lines = describeDiff(readDiff(concat(encodeDiff(hostile))));
    const text = lines.join('\n');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202e]/);
    expect(lines[1]).toBe('task: sst2\\u{1b}[2J\\u{1b}[31mPWNED\\u{d}\\u{7}');
    expect(lines[2]).toMatch(/^base: bert\\u\{202e\}txt.exe\\u\{a\}@r1/);
    expect(escapeControlCharacters('a\\u{1b}')).toBe('a\\\\u{1b}');
    expect(escapeControlCharacters('plain – ünïcode ✓')).toBe('plain – ünïcode ✓');
  });
});

describe('files: shard names, directories, missing files (issue #15)', () => {
  it('checkpointWeightFiles refuses traversal, absolute and non-string shard names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-shards-'));
    const index = join(dir, 'model.safetensors.index.json');
    for (const file of ['../../etc/passwd', '/etc/passwd', 'sub/../../x.safetensors', 3, null]) {
      await writeFile(index, JSON.stringify({ weight_map: { w: file } }));
      await expect(checkpointWeightFiles(dir), String(file)).rejects.toThrow(FormatError);
    }
    await writeFile(index, JSON.stringify({ weight_map: { w: 'b.safetensors', v: 'a.safetensors' } }));
    expect(await checkpointWeightFiles(dir)).toEqual([
      join(dir, 'a.safetensors'),
      join(dir, 'b.safetensors'),
    ]);
  });

  it('readCheckpointTensors refuses a base holding NaN or Infinity; fingerprintCheckpoint still identifies it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-nan-base-'));
    const values = Float32Array.of(0.5, Number.NaN, Number.POSITIVE_INFINITY, 1);
    await writeFile(
      join(dir, 'model.safetensors'),
      concat(
        serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], data: new Uint8Array(values.buffer) }]),
      ),
    );
    await expect(readCheckpointTensors(dir)).rejects.toMatchObject({ tensor: 'w', position: 1, count: 2 });
    await expect(readCheckpointTensors(dir)).rejects.toThrow(NonFiniteValueError);
    expect(await fingerprintCheckpoint(dir)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('readDiff of a directory or a missing file is a typed error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-read-'));
    await mkdir(join(dir, 'diff.safetensors'));
    await expect(readDiff(join(dir, 'diff.safetensors'))).rejects.toThrow(InvalidArgumentError);
    await expect(readDiff(join(dir, 'none.safetensors'))).rejects.toThrow(MissingResourceError);
    await writeFile(join(dir, 'empty.safetensors'), concat(serializeSafetensors([])));
    await expect(readDiff(join(dir, 'empty.safetensors'))).rejects.toThrow(/not a diffprune diff/);
  });
});
