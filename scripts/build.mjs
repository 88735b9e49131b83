// Bundles the service into one executable file, build/ecs-host-service, which
// is what a host runs (as the original's Go binary was). A development build
// is a script for the Node.js on the machine; a production build
// (BUILD_ENV=production) is a single executable application with Node.js
// inside, for hosts that have none (scripts/sea.mjs).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { buildSingleExecutable } from './sea.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function gitCommit() {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return dirty.trim() === '' ? commit : `${commit}-dirty`;
  } catch {
    return 'unknown';
  }
}

// Parts of dependencies the service never uses, each replaced by a stub that
// fails with a clear error if it is ever reached:
// - dockerode loads gRPC and protobuf at import for BuildKit sessions, and
//   docker-modem loads ssh2 for ssh:// hosts: together about 20 MB of
//   resident memory on every host;
// - dockerode's BuildKit progress reader brings protobufjs into the bundle
//   (136 kB of the 2.1 MB that V8 compiles at every start), for image builds;
// - axios loads form-data, and with it mime-db's table of every media type,
//   for multipart bodies, which the service never sends: about 1 MB of heap;
// - zod brings its error messages in 50 languages (300 kB of the bundle);
//   the service's errors are in English, zod's default.
const stubs = [
  { request: /^form-data$/, from: 'axios', stub: 'form-data.cjs' },
  { request: /^\.\/session$/, from: 'dockerode', stub: 'dockerode-session.cjs' },
  { request: /^\.\/buildkit$/, from: 'dockerode', stub: 'dockerode-buildkit.cjs' },
  { request: /^\.\/ssh$/, from: 'docker-modem', stub: 'docker-modem-ssh.cjs' },
  { request: /^\.\.\/locales\/index\.js$/, from: 'zod', stub: 'zod-locales.mjs' },
];
const unusedParts = {
  name: 'unused-parts',
  setup(build) {
    for (const { request, from, stub } of stubs) {
      build.onResolve({ filter: request }, (args) =>
        args.importer.includes(`${path.sep}node_modules${path.sep}${from}${path.sep}`)
          ? { path: path.join(root, 'scripts/stubs', stub) }
          : undefined,
      );
    }
  },
};

// rxjs's CommonJS build, which Node's resolution picks, is one module of
// every operator (259 kB of the bundle); its ES build lets the bundle keep
// only what the service imports. Same version, same code.
const rxjsAsModules = {
  name: 'rxjs-as-modules',
  setup(build) {
    build.onResolve({ filter: /^rxjs$/ }, () => ({
      path: path.join(root, 'node_modules/rxjs/dist/esm/index.js'),
    }));
  },
};

// Dependency lines that cost every host something at run time for nothing,
// each changed where it stands. The build fails if a line is not there
// exactly once, so an upgrade cannot quietly bring a cost back. Only the
// bundle needs these; a change that the tests must run too (they run the
// machines, and so XState, from node_modules) is a patch in patches/ instead.
const sourcePatches = [
  {
    // docker-modem formats every request's options for a debug line before
    // asking whether that line is on (`util.inspect` with unlimited depth, on
    // every engine call). The text is now built only when `modem` debug
    // output is enabled.
    file: /[\\/]docker-modem[\\/]lib[\\/]modem\.js$/,
    line: "debug('Sending: %s', util.inspect(options, {",
    becomes: "if (debug.enabled) debug('Sending: %s', util.inspect(options, {",
  },
  {
    // axios reads Node's FormData when it is loaded, which loads undici
    // (Node's fetch), about 20 ms of every start in a CPU profile of it. The
    // service sends JSON only; a FormData would still be known by its kind
    // (axios's own check after this one).
    file: /[\\/]axios[\\/]lib[\\/]utils\.js$/,
    line: "const FormDataCtor = typeof G.FormData !== 'undefined' ? G.FormData : undefined;",
    becomes: 'const FormDataCtor = undefined;',
  },
  {
    // axios probes its fetch adapter when it is loaded, for a default export
    // nothing reads (axios asks `getFetch` when it chooses an adapter): that
    // reaches for Node's fetch, Request and ReadableStream, and so undici too.
    // The service's requests take the http adapter, the first one available
    // in axios's list; the fetch adapter, were it chosen, still probes then.
    file: /[\\/]axios[\\/]lib[\\/]adapters[\\/]fetch\.js$/,
    line: 'const adapter = getFetch();',
    becomes: 'const adapter = undefined;',
  },
];
const patchedSources = {
  name: 'patched-sources',
  setup(build) {
    const applied = new Set();
    // A file that moved would never be loaded, so never patched: that fails the build too.
    build.onEnd((result) => {
      if (result.errors.length > 0) return;
      const missed = sourcePatches.filter((patch) => !applied.has(patch));
      if (missed.length > 0) {
        throw new Error(`no file to patch for: ${missed.map((patch) => patch.line).join('; ')}`);
      }
    });
    for (const patch of sourcePatches) {
      build.onLoad({ filter: patch.file }, (args) => {
        applied.add(patch);
        const source = readFileSync(args.path, 'utf8');
        const found = source.split(patch.line).length - 1;
        if (found !== 1) {
          throw new Error(`${args.path}: the line to patch is there ${found} times, not once: ${patch.line}`);
        }
        return { contents: source.replace(patch.line, patch.becomes), loader: 'js' };
      });
    }
  },
};

// V8 keeps the bundle's whole source in memory, and one character above
// U+007F anywhere makes it a two-byte string: 8.4 MB instead of 4.2 MB in a
// heap snapshot of the idle service. With charset 'ascii' esbuild escapes
// every such character in code (strings, regular expressions, names); what
// is left is inside the comments it keeps from dependencies, where a `?` in
// its place changes nothing. Each UTF-16 unit becomes one `?`, so the source
// map's columns still hold.
function keepAsciiOnly(file) {
  const source = readFileSync(file, 'utf8');
  const ascii = source.replace(/[\u0080-\uffff]/g, '?');
  if (ascii !== source) writeFileSync(file, ascii);
}

// Values that must not be committed, or that operators choose, come from the
// build's environment. The secrets only ever live in the built file.
const fromEnv = (name, fallback = '') => process.env[name] ?? fallback;
const buildSettings = {
  authSecrets: {
    development: fromEnv('HOST_SERVICE_AUTH_SECRET_DEV'),
    staging: fromEnv('HOST_SERVICE_AUTH_SECRET_STAGING'),
    production: fromEnv('HOST_SERVICE_AUTH_SECRET_PROD'),
  },
  webserverUrls: {
    development: fromEnv('HOST_SERVICE_WEBSERVER_URL_DEV'),
    staging: fromEnv('HOST_SERVICE_WEBSERVER_URL_STAGING', 'https://staging-webserver.tryfractal.com'),
    production: fromEnv('HOST_SERVICE_WEBSERVER_URL_PROD', 'https://main-webserver.tryfractal.com'),
  },
  sentryDsn: fromEnv('HOST_SERVICE_SENTRY_DSN'),
};

// A production artifact built by CI must carry the production secret: refuse
// to produce one without it (a development artifact, as `make test` builds,
// needs none).
const buildEnv = fromEnv('BUILD_ENV', 'development');
if (!['development', 'production'].includes(buildEnv)) {
  console.error(`build: BUILD_ENV must be development or production, not "${buildEnv}"`);
  process.exit(2);
}
const isCi = ['1', 'true', 'yes'].includes(fromEnv('CI').toLowerCase());
if (buildEnv === 'production' && isCi && buildSettings.authSecrets.production === '') {
  console.error('build: refusing a CI production build without HOST_SERVICE_AUTH_SECRET_PROD');
  process.exit(2);
}

// BUILD_DIR [build] lets a release test build beside the development artifact other tests run.
const buildDir = path.resolve(root, fromEnv('BUILD_DIR', 'build'));
const outfile = path.join(buildDir, 'ecs-host-service');
mkdirSync(path.dirname(outfile), { recursive: true });
// SOURCE_DATE_EPOCH (seconds) pins the build time, for a rebuild that must match a release. A
// build without it takes the time in whole seconds too: a release's time, as its --version and
// build-info.json give it, is then one that SOURCE_DATE_EPOCH can name.
const buildTime = new Date(
  (process.env['SOURCE_DATE_EPOCH']
    ? Number(process.env['SOURCE_DATE_EPOCH'])
    : Math.floor(Date.now() / 1000)) * 1000,
).toISOString();
const commonOptions = {
  entryPoints: [path.join(root, 'src/main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  charset: 'ascii',
  // V8 keeps the whole source and a table of its line ends for as long as the
  // process runs: without whitespace the source is 2.4 MB instead of 3.4 MB,
  // and the table (0.9 MB for 118,000 lines) all but goes. Names are kept,
  // so a stack trace on a host still says which functions it went through;
  // the positions are resolved through the source map, as they always were.
  minifyWhitespace: true,
  define: {
    __GIT_COMMIT__: JSON.stringify(gitCommit()),
    __BUILD_TIME__: JSON.stringify(buildTime),
    __BUILD_SETTINGS__: JSON.stringify(buildSettings),
  },
  plugins: [unusedParts, rxjsAsModules, patchedSources],
  logLevel: 'warning',
  metafile: true,
};

let result;
if (buildEnv === 'production') {
  // Node 20 runs a single executable's main as a CommonJS script, so the
  // bundle for it is CommonJS (esbuild refuses a top-level await in one).
  const bundle = path.join(buildDir, 'sea/ecs-host-service.cjs');
  mkdirSync(path.dirname(bundle), { recursive: true });
  result = await esbuild.build({
    ...commonOptions,
    outfile: bundle,
    format: 'cjs',
    // Every `import()` (Sentry's SDK has a few, of Node's own modules) as a
    // require: the executable runs the bundle compiled with a code cache
    // (scripts/seaMain.cjs), and Node 20 loses a dynamic import's callback
    // for code compiled from a cache ("A dynamic import callback was not
    // specified"), where it works in a plain main.
    supported: { 'dynamic-import': false },
    // No sourceMappingURL comment: the map goes beside the executable and to Sentry.
    sourcemap: 'external',
    // Sentry's ESM loader hook names its module by import.meta.url (and, in
    // a single executable, fails to register and says so at debug level);
    // any other use of import.meta fails the build.
    define: { ...commonOptions.define, 'import.meta.url': '__importMetaUrl' },
    // The directive first: a banner goes before esbuild's own "use strict",
    // which after a statement is only a string. Without it the service's own
    // code and every ES module in the bundle ran as sloppy code, unlike the
    // development build every test runs (an ES module, always strict): a
    // write to a frozen object silently ignored instead of an error, `this`
    // the global object instead of undefined.
    banner: {
      js: '"use strict";const __importMetaUrl = require(\'node:url\').pathToFileURL(__filename).href;',
    },
    logOverride: { 'empty-import-meta': 'error' },
  });
  keepAsciiOnly(bundle);
  buildSingleExecutable({ bundle, outfile, secrets: Object.values(buildSettings.authSecrets) });
} else {
  result = await esbuild.build({
    ...commonOptions,
    outfile,
    format: 'esm',
    // A separate map: inline, its 7 MB of text stayed resident in every host's
    // process (about 32 MB of RSS) and slowed every start by a few hundred ms.
    // `node --enable-source-maps build/ecs-host-service` still finds it.
    sourcemap: 'linked',
    // CommonJS dependencies inside an ES module bundle still call require().
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
    },
  });
  keepAsciiOnly(outfile);
  chmodSync(outfile, 0o755);
}
// `BUILD_ANALYZE=1 make build` lists what the bundle is made of, biggest first.
if (fromEnv('BUILD_ANALYZE') !== '') console.log(await esbuild.analyzeMetafile(result.metafile));
