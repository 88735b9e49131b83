'use strict';
// The single executable's main (scripts/sea.mjs): it compiles the bundle,
// an asset of the executable, with the code V8 compiled from it at build
// time, then runs it as Node would run a CommonJS main.
//
// Why not Node's own `useCodeCache`: V8 takes a code cache only in a process
// whose V8 flags hash as those of the process that made it. The cache must
// be made with the unit's flags (`--max-semi-space-size=2`) to be of use on
// a host, and Node's then warns on stderr in any other process, such as an
// operator's `ecs-host-service --version`. Here a cache that does not fit is
// simply not used: the bundle is compiled from its source as before, and
// the first log line says so (`codeCache`).
//
// Run by Node itself rather than as a single executable, this file makes the
// cache: `node <the unit's V8 flags> --random-seed=1 seaMain.cjs BUNDLE OUT`.
// V8 leaves `--random-seed` out of the flags' hash; fixed, it makes the same
// cache bytes from the same bundle every time, so the build stays
// reproducible. Both ways compile with `compile` below: a cache is taken only
// for the same source compiled the same way.
const fs = require('node:fs');
const sea = require('node:sea');
const vm = require('node:vm');

// The name the bundle's stack frames carry, as Sentry's release names it (scripts/release/sentry.ts).
const BUNDLE = 'ecs-host-service.cjs';
const CODE_CACHE = `${BUNDLE}.cache`;

function compile(source, cachedData) {
  return vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], {
    filename: BUNDLE,
    cachedData,
    produceCachedData: cachedData === undefined,
    // No `importModuleDynamically`: the build leaves no `import()` in the
    // bundle (scripts/build.mjs), since Node 20 loses that callback for code
    // compiled from a cache.
  });
}

if (sea.isSea()) {
  // The cache is read in place, in the executable's own pages: V8 needs it only while it compiles.
  const bundle = compile(sea.getAsset(BUNDLE, 'utf8'), Buffer.from(sea.getRawAsset(CODE_CACHE)));
  // Read by src/buildInfo.ts for the first log line.
  globalThis[Symbol.for('ecs-host-service.codeCache')] = bundle.cachedDataRejected ? 'rejected' : 'taken';
  bundle.call(module.exports, module.exports, require, module, __filename, __dirname);
} else {
  const [bundlePath, cachePath] = process.argv.slice(2);
  fs.writeFileSync(cachePath, compile(fs.readFileSync(bundlePath, 'utf8')).cachedData);
}
