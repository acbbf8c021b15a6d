import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { pack } from 'tar-stream';
import type { FaceSource, RawFile } from '../../../src/shared/data/api';
import { FolderSource } from '../../../src/shared/data/folder-source';
import { openSource } from '../../../src/shared/data/open-source';
import { SyntheticSource } from '../../../src/shared/data/synthetic-source';
import { TarGzSource } from '../../../src/shared/data/tar-source';
import { ConfigInvalidError, FormatError } from '../../../src/shared/errors';

// The same tree as a folder and as a .tar.gz laid out like the UTKFace download.
const IMAGES: Record<string, string> = {
  'UTKFace/25_0_2_20170116174525125.jpg.chip.jpg': 'jpeg bytes a',
  'UTKFace/39_1_20170116174525125.jpg.chip.jpg': 'jpeg bytes b',
  'UTKFace/sub/7_1_0_000001.synthetic.png': 'png bytes c',
  'UTKFace/Upper.JPEG': 'jpeg bytes d',
};
const OTHERS: Record<string, string> = {
  'UTKFace/README.txt': 'not an image',
  'UTKFace/.hidden.jpg': 'editor or macOS metadata',
  'UTKFace/labels.csv': 'age,gender',
};

const root = mkdtempSync(join(tmpdir(), 'facefill-sources-'));
const folder = join(root, 'folder');
const archive = join(root, 'UTKFace.tar.gz');

test.before(async () => {
  for (const [name, text] of Object.entries({ ...IMAGES, ...OTHERS })) {
    mkdirSync(dirname(join(folder, name)), { recursive: true });
    writeFileSync(join(folder, name), text);
  }
  mkdirSync(join(folder, 'UTKFace/empty.jpg'));
  const tar = pack();
  tar.entry({ name: 'UTKFace/', type: 'directory' });
  tar.entry({ name: 'UTKFace/empty.jpg/', type: 'directory' });
  tar.entry({ name: 'UTKFace/link.jpg', type: 'symlink', linkname: '25_0_2_20170116174525125.jpg.chip.jpg' });
  for (const [name, text] of Object.entries({ ...OTHERS, ...IMAGES })) tar.entry({ name }, text);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  writeFileSync(archive, gzipSync(Buffer.concat(chunks)));
});

async function readAll(source: FaceSource): Promise<RawFile[]> {
  const files: RawFile[] = [];
  for await (const file of source.files()) files.push(file);
  return files;
}

// One suite, run against every file-backed source.
const implementations: [string, () => FaceSource][] = [
  ['folder', () => new FolderSource(folder)],
  ['tar.gz', () => new TarGzSource(archive)],
];

for (const [kind, open] of implementations) {
  test(`${kind}: yields every image file once with its bytes, and nothing else`, async (t) => {
    const files = await readAll(open());
    t.deepEqual(Object.fromEntries(files.map((f) => [f.name.split('\\').join('/'), f.bytes.toString()])), IMAGES);
    t.is(files.length, Object.keys(IMAGES).length);
  });

  test(`${kind}: reads in the same order every time, and can be read again`, async (t) => {
    const source = open();
    const first = (await readAll(source)).map((f) => f.name);
    t.deepEqual((await readAll(source)).map((f) => f.name), first);
    t.deepEqual((await readAll(open())).map((f) => f.name), first);
  });

  test(`${kind}: a consumer may stop early`, async (t) => {
    for await (const file of open().files()) {
      t.truthy(file.bytes.length);
      break;
    }
    t.is((await readAll(open())).length, Object.keys(IMAGES).length);
  });
}

test('the folder source knows its file count up front, the archive its byte size', async (t) => {
  t.is(new FolderSource(folder).expectedCount, Object.keys(IMAGES).length);
  const tar = new TarGzSource(archive);
  await readAll(tar);
  t.is(tar.bytesRead, tar.totalBytes);
});

test('a truncated or non-gzip archive is a FormatError naming it', async (t) => {
  const cut = join(root, 'cut.tar.gz');
  const bytes = readFileSync(archive);
  writeFileSync(cut, bytes.subarray(0, bytes.length - 40));
  await t.throwsAsync(readAll(new TarGzSource(cut)), { instanceOf: FormatError, message: /cut\.tar\.gz/ });
  const plain = join(root, 'plain.tar.gz');
  writeFileSync(plain, 'this is not gzip');
  await t.throwsAsync(readAll(new TarGzSource(plain)), { instanceOf: FormatError, message: /plain\.tar\.gz/ });
});

test('openSource picks the source from its spelling, or names what it expected', (t) => {
  t.true(openSource(folder) instanceof FolderSource);
  t.true(openSource(archive) instanceof TarGzSource);
  const synthetic = openSource('synthetic:12');
  t.true(synthetic instanceof SyntheticSource);
  t.is(synthetic.expectedCount, 12);
  t.regex(openSource('synthetic:5', 9).description, /seed 9/);
  t.regex(openSource('synthetic:5:3', 9).description, /seed 3/);
  for (const bad of ['synthetic:abc', 'synthetic:0', 'synthetic', 'synthetic:-4']) {
    t.throws(() => openSource(bad), { instanceOf: ConfigInvalidError, message: /synthetic:N/ }, bad);
  }
  t.throws(() => openSource(join(root, 'missing.tar.gz')), { instanceOf: ConfigInvalidError, message: /missing\.tar\.gz.*does not exist/ });
  t.throws(() => openSource(join(folder, 'UTKFace/README.txt')), { instanceOf: ConfigInvalidError, message: /README\.txt.*neither/ });
});
