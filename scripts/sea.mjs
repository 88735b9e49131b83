// The production artifact: a copy of the Node.js that runs this build with
// the bundle injected as a single executable application, so a host needs no
// Node.js of its own. The bundle's map goes beside it, for Sentry.
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unitNodeOptions } from './unitEnvironment.mjs';

// Its command line rather than its API: the ELF library inside warns about
// every one of Node's many notes, and a child's output can be kept quiet.
const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');

// Node's marker that a blob was injected; fixed for every Node release.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Quiet when it works; its output when it fails. */
function run(command, args, cwd) {
  try {
    execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const missing = error.code === 'ENOENT' ? ` (${command} is not installed)` : '';
    process.stderr.write(String(error.stderr ?? ''));
    throw new Error(`build: ${command} ${args.join(' ')} failed${missing}`, { cause: error });
  }
}

// The executable's main: it runs the bundle with the code V8 compiled from it
// here, at build time (scripts/seaMain.cjs says why and how).
const SEA_MAIN = fileURLToPath(new URL('./seaMain.cjs', import.meta.url));
// The asset names scripts/seaMain.cjs reads.
const BUNDLE_ASSET = 'ecs-host-service.cjs';
const CODE_CACHE_ASSET = `${BUNDLE_ASSET}.cache`;

/**
 * `secrets`: values the bundle carries that must stay on hosts; the copies
 * of the bundle and map that go to Sentry have them masked.
 */
export function buildSingleExecutable({ bundle, outfile, secrets }) {
  const seaDir = path.dirname(bundle);
  const blob = path.join(seaDir, 'sea-prep.blob');
  const config = path.join(seaDir, 'sea-config.json');
  const main = path.join(seaDir, path.basename(SEA_MAIN));
  const codeCache = path.join(seaDir, CODE_CACHE_ASSET);
  copyFileSync(SEA_MAIN, main);
  // Under the unit's options: V8 takes a cache only under V8 flags that hash as
  // the ones it was made with (Node's own options, such as `--v8-pool-size`,
  // are not in that hash).
  run(
    process.execPath,
    [
      ...unitNodeOptions()
        .split(' ')
        .filter((option) => option !== ''),
      '--random-seed=1',
      main,
      bundle,
      codeCache,
    ],
    seaDir,
  );
  writeFileSync(
    config,
    JSON.stringify({
      // By name only: the blob holds it, and must not hold the build's own path.
      main: path.basename(main),
      output: path.basename(blob),
      disableExperimentalSEAWarning: true,
      // Both are tied to the exact V8 build and make the blob differ run to
      // run; the main makes and takes its own code cache instead.
      useSnapshot: false,
      useCodeCache: false,
      assets: { [BUNDLE_ASSET]: path.basename(bundle), [CODE_CACHE_ASSET]: CODE_CACHE_ASSET },
    }),
  );
  run(process.execPath, ['--experimental-sea-config', path.basename(config)], seaDir);

  // Built next to the final name and renamed into place, so a failed build
  // never leaves a half-written executable behind.
  const partial = `${outfile}.partial`;
  rmSync(partial, { force: true });
  copyFileSync(process.execPath, partial);
  chmodSync(partial, 0o755);
  // Node's symbol and debugging tables are about 13 MB that no host uses.
  run('strip', [partial]);
  run(process.execPath, [postject, partial, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
  renameSync(partial, outfile);

  writeFileSync(`${outfile}.map`, masked(JSON.stringify(publishableMap(`${bundle}.map`)), secrets));
  writeFileSync(publishableBundleOf(bundle), masked(readFileSync(bundle, 'utf8'), secrets));
}

/** The bundle as Sentry gets it (scripts/release/): the code the map describes, secrets masked. */
export function publishableBundleOf(bundle) {
  return bundle.replace(/\.cjs$/, '.published.cjs');
}

/** Same length, so every line and column the map names stays where it was. */
function masked(code, secrets) {
  let text = code;
  for (const secret of secrets.filter((s) => s !== ''))
    text = text.replaceAll(secret, '*'.repeat(secret.length));
  return text;
}

/**
 * The map as it may leave the build machine: esbuild records each define's
 * value as a source of its own, and __BUILD_SETTINGS__ holds the auth secrets,
 * which must not reach Sentry. The bundle's own path names stay as they are.
 */
function publishableMap(mapFile) {
  const map = JSON.parse(readFileSync(mapFile, 'utf8'));
  map.sourcesContent = map.sourcesContent?.map((content, i) =>
    map.sources[i].includes('<define:') ? '(build setting, left out of the map)' : content,
  );
  return map;
}
