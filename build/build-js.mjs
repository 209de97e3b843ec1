// Bundles the TypeScript sources with esbuild into dist/: the library entry, the CLI, and the worker
// script that the pool starts. Runtime dependencies stay external so that npm resolves them. The wasm
// builds are copied beside the bundles, where the runtime finds them through import.meta.url.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const external = Object.keys(pkg.dependencies ?? {});

// Start from an empty dist/: chunk names are content hashes, so stale chunks would pile up.
rmSync(join(root, 'dist'), { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: { index: 'src/index.ts', cli: 'src/cli.ts', worker: 'src/runtime/worker.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: [...external, 'node:*'],
  sourcemap: true,
  logLevel: 'warning',
});

mkdirSync(join(root, 'dist'), { recursive: true });
for (const name of ['dllm-shared.wasm', 'dllm-single.wasm']) {
  copyFileSync(join(root, 'build', name), join(root, 'dist', name));
}
chmodSync(join(root, 'dist', 'cli.js'), 0o755);
