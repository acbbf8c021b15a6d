import test from 'ava';
import { decodeShard, encodeShard, type ShardRecord } from '../../../src/shared/data/shard-format';
import { FormatError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';

const rng = new Rng(3);
const record = (i: number, size: number): ShardRecord => ({
  sha256: i.toString(16).padStart(64, 'a'),
  labels: i % 2 ? { age: i, gender: 1, race: 3 } : { age: null, gender: null, race: null },
  name: `UTKFace/ünïcode ${i}.jpg`,
  pixels: Uint8Array.from({ length: size * size }, () => rng.int(0, 255)),
});

test('records round-trip through the shard format', (t) => {
  const records = Array.from({ length: 5 }, (_, i) => record(i, 16));
  const { size, records: back } = decodeShard(encodeShard(16, records), 's.ffs');
  t.is(size, 16);
  t.deepEqual(
    back.map((r) => ({ ...r, pixels: Array.from(r.pixels) })),
    records.map((r) => ({ ...r, pixels: Array.from(r.pixels) })),
  );
});

test('a truncated, padded or foreign file is a FormatError naming it', (t) => {
  const bytes = encodeShard(16, [record(1, 16), record(2, 16)]);
  t.throws(() => decodeShard(bytes.subarray(0, bytes.length - 10), 'cut.ffs'), { instanceOf: FormatError, message: /cut\.ffs.*truncated/ });
  t.throws(() => decodeShard(Buffer.concat([bytes, Buffer.from([0])]), 'pad.ffs'), { instanceOf: FormatError, message: /unexpected bytes/ });
  t.throws(() => decodeShard(Buffer.from('PK\u0003\u0004 a zip file, not a shard'), 'zip.ffs'), { instanceOf: FormatError, message: /bad magic/ });
  const future = Buffer.from(bytes);
  future.writeUInt16LE(99, 4);
  t.throws(() => decodeShard(future, 'v99.ffs'), { instanceOf: FormatError, message: /version 99/ });
});

test('a shard cut at any byte is refused', (t) => {
  const bytes = encodeShard(4, [record(1, 4), record(2, 4), record(3, 4)]);
  for (let cut = 0; cut < bytes.length; cut++) {
    t.throws(() => decodeShard(bytes.subarray(0, cut), 'cut.ffs'), { instanceOf: FormatError }, `cut at ${cut} of ${bytes.length}`);
  }
});

test('a corrupted length field is refused, and an empty shard is valid', (t) => {
  const bytes = encodeShard(8, [record(1, 8), record(2, 8)]);
  const longName = Buffer.from(bytes);
  longName.writeUInt16LE(0xffff, 16 + 36);
  t.throws(() => decodeShard(longName, 'name.ffs'), { instanceOf: FormatError, message: /truncated/ });
  const moreRecords = Buffer.from(bytes);
  moreRecords.writeUInt32LE(3, 8);
  t.throws(() => decodeShard(moreRecords, 'count.ffs'), { instanceOf: FormatError, message: /truncated in record 2 of 3/ });
  t.deepEqual(decodeShard(encodeShard(8, []), 'empty.ffs'), { size: 8, records: [] });
});

test('a label byte out of its range is refused', (t) => {
  const bytes = encodeShard(4, [record(1, 4)]);
  const badGender = Buffer.from(bytes);
  badGender[16 + 33] = 7;
  t.throws(() => decodeShard(badGender, 'g.ffs'), { instanceOf: FormatError, message: /gender 7/ });
  const badRace = Buffer.from(bytes);
  badRace[16 + 34] = 5;
  t.throws(() => decodeShard(badRace, 'r.ffs'), { instanceOf: FormatError, message: /race 5/ });
});
