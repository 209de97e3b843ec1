// Bundles the TypeScript sources with esbuild into dist/ and writes the type declarations.
//
// dist/          Node and Deno: the library entry, the CLI and the compute-worker script. Runtime
//                dependencies stay external so that npm resolves them; node:* modules are imported.
// dist/browser/  Browsers and Cloudflare Workers: the library entry (plus loadModelInWorker), the
//                compute-worker script and the coordinator worker, with the dependencies bundled in and
//                every node:* module replaced by a stub that throws when called.
// dist/types/    Declarations from `tsc --emitDeclarationOnly`.
//
// Each bundle finds its worker scripts and the wasm builds beside itself through import.meta.url, so
// every .wasm in build/ is copied into both folders. The embedded model is found relative to each
// bundle through DLLM_EMBEDDED_MODEL_DIR.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { builtinModules, createRequire } from 'node:module';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const external = Object.keys(pkg.dependencies ?? {});

// Start from an empty dist/: chunk names are content hashes, so stale chunks would pile up.
rmSync(join(root, 'dist'), { recursive: true, force: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  splitting: true,
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: { index: 'src/index.ts', cli: 'src/cli.ts', worker: 'src/runtime/worker.ts' },
  outdir: 'dist',
  platform: 'node',
  target: 'node20',
  external: [...external, 'node:*'],
  define: { DLLM_EMBEDDED_MODEL_DIR: JSON.stringify('../models/sdar-micro/') },
});

/**
 * Replaces node:* imports in the browser build with modules that export the same names as functions
 * that throw. The names come from this Node, so a new import of an existing function needs no change
 * here. Only code paths for local files reach them (browsers and Workers load models by URL or from
 * memory).
 */
const nodeStubs = {
  name: 'node-stubs',
  setup(plugin) {
    plugin.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    plugin.onLoad({ filter: /.*/, namespace: 'node-stub' }, async (args) => {
      const moduleName = args.path.slice('node:'.length);
      if (!builtinModules.includes(moduleName)) return { errors: [{ text: `${args.path} is not a Node built-in module` }] };
      const names = Object.keys(await import(args.path)).filter((name) => name !== 'default' && /^[A-Za-z_$][\w$]*$/.test(name));
      const lines = [
        `const unavailable = (name) => function () { throw new Error(\`${args.path} \${name}() is not available in the browser build of dllm-wasm: load models from a URL, an ArrayBuffer or memoryFolder().\`); };`,
        ...names.map((name) => `export const ${name} = unavailable(${JSON.stringify(name)});`),
        'export default {};',
      ];
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

await build({
  ...common,
  entryPoints: { index: 'src/browser.ts', worker: 'src/runtime/worker.ts', coordinator: 'src/runtime/coordinator.ts' },
  outdir: 'dist/browser',
  platform: 'browser',
  target: 'es2022',
  plugins: [nodeStubs],
  define: { DLLM_EMBEDDED_MODEL_DIR: JSON.stringify('../../models/sdar-micro/') },
});

for (const folder of ['dist', 'dist/browser']) {
  mkdirSync(join(root, folder), { recursive: true });
  for (const name of readdirSync(join(root, 'build')).filter((file) => file.endsWith('.wasm'))) {
    copyFileSync(join(root, 'build', name), join(root, folder, name));
  }
}
chmodSync(join(root, 'dist', 'cli.js'), 0o755);

// Declarations of the two public entries. Exit status 2 means tsc found type errors but still wrote
// every file; `npm run typecheck` reports those, so the bundles stay usable meanwhile.
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.types.json'], { cwd: root, encoding: 'utf8' });
if (tsc.status !== 0) {
  const output = `${tsc.stdout}${tsc.stderr}`.trim();
  if (tsc.status !== 2) throw new Error(`tsc failed to write the declarations (exit status ${tsc.status}):\n${output}`);
  console.warn(`build-js: declarations written despite type errors (run npm run typecheck):\n${output.split('\n').slice(0, 10).join('\n')}`);
}
