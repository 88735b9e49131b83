import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  adoptAsTemp,
  fileOfTemp,
  holdAsTemp,
  linkInPlace,
  openTemps,
  reuseAsTemps,
  writeFilesAtomic,
  type FileToWrite,
  type WriteStrategy,
} from '../../src/resources/atomicFile.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-atomic-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

describe.each<WriteStrategy>(['inline', 'threadPool'])('atomic file writes (%s)', (strategy) => {
  const writeWithStrategy = (files: readonly FileToWrite[], folderMode?: number) =>
    writeFilesAtomic(files, { strategy, folderMode });

  it('makes the folder with its exact mode when asked, and takes one that exists', async () => {
    const folder = path.join(dir, 'container');
    const previous = process.umask(0o077);
    try {
      await writeWithStrategy([{ file: path.join(folder, 'tty'), content: '10' }], 0o755);
      fs.chmodSync(folder, 0o700);
      await writeWithStrategy([{ file: path.join(folder, 'tty'), content: '11' }], 0o755);
    } finally {
      process.umask(previous);
    }
    expect(modeOf(folder)).toBe(0o755);
    expect(fs.readFileSync(path.join(folder, 'tty'), 'utf8')).toBe('11');
  });

  it('writes the content with the exact mode, whatever the umask', async () => {
    const previous = process.umask(0o077);
    try {
      await writeWithStrategy([{ file: path.join(dir, 'tty'), content: '10' }]);
      await writeWithStrategy([{ file: path.join(dir, 'key.pem'), content: 'secret', mode: 0o600 }]);
    } finally {
      process.umask(previous);
    }
    expect(fs.readFileSync(path.join(dir, 'tty'), 'utf8')).toBe('10');
    expect(modeOf(path.join(dir, 'tty'))).toBe(0o644);
    expect(modeOf(path.join(dir, 'key.pem'))).toBe(0o600);
    expect(fs.readdirSync(dir).sort()).toEqual(['key.pem', 'tty']);
  });

  it('replaces an existing file whole, and writes large contents completely', async () => {
    const file = path.join(dir, 'DPI');
    await writeWithStrategy([{ file, content: '96' }]);
    const large = 'x'.repeat(3 * 1024 * 1024);
    await writeWithStrategy([{ file, content: large }]);
    expect(fs.readFileSync(file, 'utf8')).toBe(large);
    expect(fs.readdirSync(dir)).toEqual(['DPI']);
  });

  it('makes the files appear in the order given, each complete when the next appears', async () => {
    const first = path.join(dir, 'DPI');
    const last = path.join(dir, '.ready');
    const seen: string[] = [];
    const watcher = fs.watch(dir, (_, name) => {
      if (name !== null && !name.endsWith('.tmp') && fs.existsSync(path.join(dir, name))) {
        if (name === '.ready') seen.push(`ready:${fs.readFileSync(first, 'utf8')}`);
        else if (name === 'DPI' && !seen.includes('DPI')) seen.push('DPI');
      }
    });
    try {
      for (let i = 0; i < 20; i++) {
        fs.rmSync(first, { force: true });
        fs.rmSync(last, { force: true });
        await writeWithStrategy([
          { file: first, content: String(100 + i) },
          { file: last, content: '.ready' },
        ]);
        expect(fs.readFileSync(first, 'utf8')).toBe(String(100 + i));
        expect(fs.existsSync(last)).toBe(true);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      watcher.close();
    }
    // Every time `.ready` was seen, `DPI` was already there with its content.
    const readies = seen.filter((s) => s.startsWith('ready:'));
    expect(readies.length).toBeGreaterThan(0);
    for (const r of readies) expect(r).toMatch(/^ready:1\d\d$/);
  });

  it('on failure leaves no temp file and makes none of the files appear', async () => {
    const missing = path.join(dir, 'no-such-folder', 'tty');
    await expect(
      writeWithStrategy([
        { file: path.join(dir, 'hostPort_for_my_32262_tcp'), content: '32768' },
        { file: missing, content: '10' },
      ]),
    ).rejects.toThrow(/ENOENT/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe.each<WriteStrategy>(['inline', 'threadPool'])(
  'atomic file writes into temps made ahead (%s)',
  (strategy) => {
    const names = ['hostPort_for_my_32262_tcp', 'tty'];

    it('makes empty temps with the exact mode, whatever the umask', async () => {
      const previous = process.umask(0o077);
      let temps;
      try {
        temps = await openTemps(dir, names);
      } finally {
        process.umask(previous);
      }
      expect(temps.map((t) => path.dirname(t.temp))).toEqual([dir, dir]);
      for (const t of temps) {
        expect(path.basename(t.temp)).toMatch(/^\..+\.tmp$/);
        expect(modeOf(t.temp)).toBe(0o644);
        expect(fs.fstatSync(t.fd).size).toBe(0);
        fs.closeSync(t.fd);
      }
    });

    it('made new with the mode as asked, gives a leftover of the same name its mode and empties it', async () => {
      // Temp names count up in this process: the next two are these, as a crashed run with our pid left them.
      const counted = await openTemps(dir, names);
      for (const t of counted) fs.closeSync(t.fd);
      const next = counted.map((t) =>
        t.temp.replace(/\.(\d+)\.tmp$/, (_, n: string) => `.${Number(n) + 2}.tmp`),
      );
      fs.writeFileSync(next[1]!, 'stale', { mode: 0o600 });
      const temps = await openTemps(dir, names, { modeAsAsked: true });
      expect(temps.map((t) => t.temp)).toEqual(next);
      for (const t of temps) {
        expect(modeOf(t.temp)).toBe(0o644);
        expect(fs.fstatSync(t.fd).size).toBe(0);
        fs.closeSync(t.fd);
      }
    });

    it('fills those temps: each file is its temp, renamed, and no file is made', async () => {
      const temps = await openTemps(dir, names);
      const inodes = temps.map((t) => fs.statSync(t.temp).ino);
      await writeFilesAtomic(
        [
          { file: path.join(dir, names[0]!), content: '32768' },
          { file: path.join(dir, names[1]!), content: '10' },
        ],
        { strategy, temps },
      );
      expect(fs.readdirSync(dir).sort()).toEqual(names);
      expect(fs.readFileSync(path.join(dir, 'tty'), 'utf8')).toBe('10');
      expect(fs.readFileSync(path.join(dir, names[0]!), 'utf8')).toBe('32768');
      expect(names.map((n) => fs.statSync(path.join(dir, n)).ino)).toEqual(inodes);
      // Closed by the write: a descriptor left open would be a leak per container.
      for (const t of temps) expect(() => fs.fstatSync(t.fd)).toThrow(/EBADF/);
    });

    it('on failure removes the temps made ahead too', async () => {
      const temps = await openTemps(dir, names);
      fs.mkdirSync(path.join(dir, 'tty'));
      fs.writeFileSync(path.join(dir, 'tty', 'blocker'), '');
      await expect(
        writeFilesAtomic(
          [
            { file: path.join(dir, names[0]!), content: '32768' },
            { file: path.join(dir, 'tty'), content: '10' },
          ],
          { strategy, temps },
        ),
      ).rejects.toThrow();
      expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    });

    it('when an fsync fails, fails with it once every fsync has ended, and leaves no file', async () => {
      const temps = await openTemps(dir, names);
      // fsync of /dev/null fails with EINVAL; a write to it does not.
      fs.closeSync(temps[1]!.fd);
      const failing = { ...temps[1]!, fd: fs.openSync('/dev/null', 'w') };
      await expect(
        writeFilesAtomic(
          [
            { file: path.join(dir, names[0]!), content: '32768' },
            { file: path.join(dir, names[1]!), content: '10' },
          ],
          { strategy, temps: [temps[0]!, failing] },
        ),
      ).rejects.toMatchObject({ code: 'EINVAL' });
      expect(fs.readdirSync(dir)).toEqual([]);
      for (const fd of [temps[0]!.fd, failing.fd]) expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
    });

    it('refuses temps that do not match the files one to one', async () => {
      const temps = await openTemps(dir, names);
      await expect(
        writeFilesAtomic([{ file: path.join(dir, 'tty'), content: '10' }], { strategy, temps }),
      ).rejects.toThrow(/2 temp files made ahead for 1 files/);
      for (const t of temps) fs.closeSync(t.fd);
    });
  },
);

describe.each<WriteStrategy>(['inline', 'threadPool'])(
  'putting a file in place as a link (%s)',
  (strategy) => {
    const source = () => path.join(dir, '.DPI-144');
    const file = () => path.join(dir, 'DPI');
    beforeEach(async () => {
      await writeFilesAtomic([{ file: source(), content: '144' }]);
      await writeFilesAtomic([{ file: file(), content: '96' }]);
    });

    it('replaces the file with the source itself, dated now, and the old file stays whole for whoever has it open', async () => {
      const reader = fs.openSync(file(), 'r');
      const past = new Date('2020-01-01T00:00:00Z');
      fs.utimesSync(source(), past, past);
      const before = Date.now();
      await linkInPlace(source(), file(), { strategy });
      try {
        expect(fs.readFileSync(file(), 'utf8')).toBe('144');
        expect(fs.statSync(file()).ino).toBe(fs.statSync(source()).ino);
        expect(fs.statSync(file()).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
        expect(fs.readFileSync(reader, 'utf8')).toBe('96');
      } finally {
        fs.closeSync(reader);
      }
      expect(fs.readdirSync(dir).sort()).toEqual(['.DPI-144', 'DPI']);
    });

    it('leaves no temp when the file already is the source', async () => {
      await linkInPlace(source(), file(), { strategy });
      await linkInPlace(source(), file(), { strategy });
      expect(fs.readFileSync(file(), 'utf8')).toBe('144');
      expect(fs.readdirSync(dir).sort()).toEqual(['.DPI-144', 'DPI']);
    });

    it('fails with the file as it was and no temp when the source is missing', async () => {
      fs.rmSync(source());
      await expect(linkInPlace(source(), file(), { strategy })).rejects.toThrow(/ENOENT/);
      expect(fs.readFileSync(file(), 'utf8')).toBe('96');
      expect(fs.readdirSync(dir)).toEqual(['DPI']);
    });

    it('fails with no temp left when the file cannot be replaced', async () => {
      fs.rmSync(file());
      fs.mkdirSync(file());
      await expect(linkInPlace(source(), file(), { strategy })).rejects.toThrow();
      expect(fs.readdirSync(dir).sort()).toEqual(['.DPI-144', 'DPI']);
    });
  },
);

describe.each<WriteStrategy>(['inline', 'threadPool'])('files reused as temps (%s)', (strategy) => {
  it('writes over what they held from the start, cut to the new length or grown past it', async () => {
    const folder = path.join(dir, 'container');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'hostPort'), '40001');
    fs.writeFileSync(path.join(folder, 'tty'), '10');
    fs.chmodSync(path.join(folder, 'tty'), 0o600);
    const inodes = ['hostPort', 'tty'].map((n) => fs.statSync(path.join(folder, n)).ino);
    const temps = reuseAsTemps(folder, ['hostPort', 'tty']);
    expect(temps.map((t) => t.holds)).toEqual([5, 2]);
    // Out of the names a container reads until written: only temps are there.
    expect(fs.readdirSync(folder).every((n) => n.endsWith('.tmp'))).toBe(true);
    await writeFilesAtomic(
      [
        { file: path.join(folder, 'hostPort'), content: '7' },
        { file: path.join(folder, 'tty'), content: '12345' },
      ],
      { temps, strategy },
    );
    expect(fs.readdirSync(folder).sort()).toEqual(['hostPort', 'tty']);
    expect(fs.readFileSync(path.join(folder, 'hostPort'), 'utf8')).toBe('7');
    expect(fs.readFileSync(path.join(folder, 'tty'), 'utf8')).toBe('12345');
    expect(['hostPort', 'tty'].map((n) => fs.statSync(path.join(folder, n)).ino)).toEqual(inodes);
    // A file whose mode was changed gets the mode every file written here has.
    expect(modeOf(path.join(folder, 'tty'))).toBe(0o644);
  });
});

describe('files reused as temps, one missing', () => {
  it('closes what it opened and leaves the rest when one is missing', () => {
    const folder = path.join(dir, 'container');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'hostPort'), '40001');
    const open = () => fs.readdirSync('/proc/self/fd').length;
    const before = open();
    expect(() => reuseAsTemps(folder, ['hostPort', 'tty'])).toThrow(/ENOENT/);
    expect(open()).toBe(before);
  });
});

describe('a file held as a temp in another folder', () => {
  const setUp = () => {
    const folder = path.join(dir, 'container');
    const held = path.join(dir, 'held');
    fs.mkdirSync(folder);
    fs.mkdirSync(held);
    return { folder, held };
  };

  it.each<WriteStrategy>(['inline', 'threadPool'])(
    'moves a small file of one name there, open as it is, and a write puts it in its new place (%s)',
    async (strategy) => {
      const { folder, held } = setUp();
      fs.writeFileSync(path.join(folder, 'DPI'), '192');
      fs.chmodSync(path.join(folder, 'DPI'), 0o600);
      const ino = fs.statSync(path.join(folder, 'DPI')).ino;
      const temp = holdAsTemp(path.join(folder, 'DPI'), held, 4096)!;
      expect(temp.holds).toBe(3);
      expect(fs.readdirSync(folder)).toEqual([]);
      expect(fs.readdirSync(held)).toHaveLength(1);
      const target = path.join(dir, 'next', 'DPI');
      fs.mkdirSync(path.dirname(target));
      await writeFilesAtomic([{ file: target, content: '96' }], { temps: [temp], strategy });
      expect(fs.readFileSync(target, 'utf8')).toBe('96');
      expect(fs.statSync(target).ino).toBe(ino);
      expect(modeOf(target)).toBe(0o644);
      expect(fs.readdirSync(held)).toEqual([]);
    },
  );

  it('holds no file with a second name, nor a large one: each is unlinked, the other name untouched', () => {
    const { folder, held } = setUp();
    fs.writeFileSync(path.join(folder, 'DPI'), '192');
    fs.linkSync(path.join(folder, 'DPI'), path.join(folder, '.DPI-192'));
    fs.writeFileSync(path.join(folder, 'big'), 'x'.repeat(5000));
    const open = () => fs.readdirSync('/proc/self/fd').length;
    const before = open();
    expect(holdAsTemp(path.join(folder, 'DPI'), held, 4096)).toBeUndefined();
    expect(holdAsTemp(path.join(folder, 'big'), held, 4096)).toBeUndefined();
    expect(fs.readdirSync(folder)).toEqual(['.DPI-192']);
    expect(fs.readFileSync(path.join(folder, '.DPI-192'), 'utf8')).toBe('192');
    expect(fs.readdirSync(held)).toEqual([]);
    expect(open()).toBe(before);
  });
});

describe('a file reused or held as a temp, found to be a link', () => {
  it('is not followed: the call fails, and the file it leads to is untouched', () => {
    const folder = path.join(dir, 'container');
    const held = path.join(dir, 'held');
    fs.mkdirSync(folder);
    fs.mkdirSync(held);
    const outside = path.join(dir, 'outside');
    fs.writeFileSync(outside, 'not ours');
    fs.symlinkSync(outside, path.join(folder, 'tty'));
    fs.symlinkSync(outside, path.join(folder, 'DPI'));
    expect(() => reuseAsTemps(folder, ['tty'])).toThrow(/ELOOP/);
    expect(() => holdAsTemp(path.join(folder, 'DPI'), held, 4096)).toThrow(/ELOOP/);
    expect(fs.readFileSync(outside, 'utf8')).toBe('not ours');
  });
});

describe('a temp an earlier process left, taken over', () => {
  it("reads the file a temp is for from its name, this process's or another's", async () => {
    const temps = await openTemps(dir, ['tty', '.ready']);
    for (const t of temps) fs.closeSync(t.fd);
    expect(temps.map((t) => fileOfTemp(path.basename(t.temp)))).toEqual(['tty', '.ready']);
    expect(fileOfTemp('.DPI.1.7.tmp')).toBe('DPI');
    for (const name of ['tty', '.DPI-192', '.spare-1-2', '.tty.tmp'])
      expect(fileOfTemp(name)).toBeUndefined();
  });

  it('opens a plain file of one name as it is, with the mode of every file written here', async () => {
    const left = path.join(dir, '.tty.1.2.tmp');
    fs.writeFileSync(left, '100');
    fs.chmodSync(left, 0o600);
    const temp = (await adoptAsTemp(left, dir, 'tty', 4096))!;
    expect(temp.holds).toBe(3);
    expect(fs.existsSync(left)).toBe(false);
    expect(fileOfTemp(path.basename(temp.temp))).toBe('tty');
    expect(modeOf(temp.temp)).toBe(0o644);
    fs.closeSync(temp.fd);
  });

  it('takes no link, file of two names or large file, and changes nothing they lead to', async () => {
    const outside = path.join(dir, 'outside');
    fs.writeFileSync(outside, 'not ours');
    fs.symlinkSync(outside, path.join(dir, '.tty.1.1.tmp'));
    fs.writeFileSync(path.join(dir, '.DPI.1.2.tmp'), '192');
    fs.linkSync(path.join(dir, '.DPI.1.2.tmp'), path.join(dir, 'another-name'));
    fs.writeFileSync(path.join(dir, '.DPI.1.3.tmp'), 'x'.repeat(5000));
    const open = () => fs.readdirSync('/proc/self/fd').length;
    const before = open();
    for (const [left, name] of [
      ['.tty.1.1.tmp', 'tty'],
      ['.DPI.1.2.tmp', 'DPI'],
      ['.DPI.1.3.tmp', 'DPI'],
    ] as const) {
      expect(await adoptAsTemp(path.join(dir, left), dir, name, 4096)).toBeUndefined();
    }
    expect(fs.readdirSync(dir).sort()).toEqual(['another-name', 'outside']);
    expect(fs.readFileSync(outside, 'utf8')).toBe('not ours');
    expect(fs.readFileSync(path.join(dir, 'another-name'), 'utf8')).toBe('192');
    expect(open()).toBe(before);
  });
});

describe('atomic file writes, strategy chosen per write', () => {
  it('lands every file of many overlapping writes, each folder complete', async () => {
    const folders = Array.from({ length: 40 }, (_, i) => path.join(dir, String(i)));
    for (const f of folders) fs.mkdirSync(f);
    await Promise.all(
      folders.map((f, i) =>
        writeFilesAtomic([
          { file: path.join(f, 'DPI'), content: String(96 + i) },
          { file: path.join(f, '.ready'), content: '.ready' },
        ]),
      ),
    );
    for (const [i, f] of folders.entries()) {
      expect(fs.readdirSync(f).sort()).toEqual(['.ready', 'DPI']);
      expect(fs.readFileSync(path.join(f, 'DPI'), 'utf8')).toBe(String(96 + i));
    }
  });
});
