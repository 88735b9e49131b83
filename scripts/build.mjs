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

// dockerode loads gRPC and protobuf at import for BuildKit sessions, and
// docker-modem loads ssh2 for ssh:// hosts; the service uses neither, and
// together they cost about 20 MB of resident memory on every host. axios
// loads form-data, and with it mime-db's table of every media type, for
// multipart bodies, which the service never sends: about 1 MB of heap.
const unusedParts = {
  name: 'unused-parts',
  setup(build) {
    build.onResolve({ filter: /^form-data$/ }, (args) =>
      args.importer.includes(`${path.sep}axios${path.sep}`)
        ? { path: path.join(root, 'scripts/stubs/form-data.cjs') }
        : undefined,
    );
    build.onResolve({ filter: /^\.\/session$/ }, (args) =>
      args.importer.includes(`${path.sep}dockerode${path.sep}`)
        ? { path: path.join(root, 'scripts/stubs/dockerode-session.cjs') }
        : undefined,
    );
    build.onResolve({ filter: /^\.\/ssh$/ }, (args) =>
      args.importer.includes(`${path.sep}docker-modem${path.sep}`)
        ? { path: path.join(root, 'scripts/stubs/docker-modem-ssh.cjs') }
        : undefined,
    );
  },
};

// docker-modem formats every request's options for a debug line before
// asking whether that line is on (`util.inspect` with unlimited depth, on
// every engine call). The text is only built when the `modem` debug output is
// enabled. The build fails if the line changes, so an upgrade cannot quietly
// bring the cost back.
const MODEM_DEBUG_LINE = "debug('Sending: %s', util.inspect(options, {";
const lazyModemDebug = {
  name: 'lazy-modem-debug',
  setup(build) {
    build.onLoad({ filter: /[\\/]docker-modem[\\/]lib[\\/]modem\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes(MODEM_DEBUG_LINE)) {
        throw new Error(`${args.path}: the debug line to make lazy is not there any more`);
      }
      const lazy = "if (debug.enabled) debug('Sending: %s', util.inspect(options, {";
      return { contents: source.replace(MODEM_DEBUG_LINE, lazy), loader: 'js' };
    });
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
// SOURCE_DATE_EPOCH (seconds) pins the build time, for a rebuild that must match a release.
const buildTime = new Date(
  process.env['SOURCE_DATE_EPOCH'] ? Number(process.env['SOURCE_DATE_EPOCH']) * 1000 : Date.now(),
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
  plugins: [unusedParts, lazyModemDebug],
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
    // No sourceMappingURL comment: the map goes beside the executable and to Sentry.
    sourcemap: 'external',
    // Sentry's ESM loader hook names its module by import.meta.url (and, in
    // a single executable, fails to register and says so at debug level);
    // any other use of import.meta fails the build.
    define: { ...commonOptions.define, 'import.meta.url': '__importMetaUrl' },
    banner: {
      js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;",
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
