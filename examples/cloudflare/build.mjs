// Prepares the Worker in out/: bundles worker.js with the package's `workerd` export condition, and
// copies the kernel build and the model files that workerd.capnp embeds as modules.
//   node examples/cloudflare/build.mjs [model-folder]    (default: the embedded model)
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const exampleDir = dirname(fileURLToPath(import.meta.url));
const out = join(exampleDir, 'out');
const packageRoot = dirname(createRequire(import.meta.url).resolve('dllm-wasm/package.json'));
const modelFolder = resolve(process.argv[2] ?? join(packageRoot, 'models', 'sdar-micro'));

mkdirSync(join(out, 'model'), { recursive: true });
await build({
  entryPoints: [join(exampleDir, 'worker.js')],
  outfile: join(out, 'worker.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  conditions: ['workerd', 'worker', 'browser'],
  // These stay imports: workerd.capnp provides them as modules.
  external: ['./dllm-single.wasm', './model/*'],
  logLevel: 'warning',
});
copyFileSync(join(packageRoot, 'dist', 'browser', 'dllm-single.wasm'), join(out, 'dllm-single.wasm'));
// workerd picks a module's type in workerd.capnp, not from its name; the suffixes only keep text and
// binary files apart.
copyFileSync(join(modelFolder, 'config.json'), join(out, 'model', 'config.json.txt'));
copyFileSync(join(modelFolder, 'tokenizer.json'), join(out, 'model', 'tokenizer.json.txt'));
copyFileSync(join(modelFolder, 'tokenizer_config.json'), join(out, 'model', 'tokenizer_config.json.txt'));
copyFileSync(join(modelFolder, 'model.safetensors'), join(out, 'model', 'model.safetensors.bin'));
console.log(`Worker ready in ${out} with the model from ${modelFolder}`);
