// Start-up choice of the kernel build (src/runtime/kernel-build.ts). The relaxed-SIMD build runs where the
// runtime validates it and it passes the self-test, else the baseline. Both memory kinds choose alike,
// and each choice is logged once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseKernelBuild, kernelBuildFileName } from '../src/runtime/kernel-build.js';
import { instantiateKernels, packF32Panels, packedF32Length } from '../src/runtime/kernels.js';

test('auto choice names its build', async () => {
  const lines: string[] = [];
  for (const shared of [true, false]) {
    const choice = await chooseKernelBuild(shared, 'auto', (line) => lines.push(line));
    assert.ok(choice.build === 'relaxed' || choice.build === 'baseline', choice.build);
    assert.ok(choice.description.includes(kernelBuildFileName(shared, choice.build)), choice.description);
  }
  // Node 20 and later support relaxed SIMD (behind a flag that kernel-build sets on Node 20).
  const shared = await chooseKernelBuild(true, 'auto', () => {});
  const plain = await chooseKernelBuild(false, 'auto', () => {});
  assert.is(plain.build, shared.build, 'both memory kinds make the same choice');
  // The relaxed build must pass its self-test here, or the int8 tests would cover only the baseline build.
  assert.is(shared.build, 'relaxed', shared.description);
  assert.is(lines.length, 2, `one line per memory kind, got ${JSON.stringify(lines)}`);
});

test('repeated choices log once', async () => {
  const lines: string[] = [];
  await chooseKernelBuild(true, 'baseline', (line) => lines.push(line));
  await chooseKernelBuild(true, 'baseline', (line) => lines.push(line));
  assert.ok(lines.length <= 1, `logged ${lines.length} times`);
});

test('relaxed and baseline builds agree', async () => {
  const relaxed = await chooseKernelBuild(true, 'auto', () => {});
  if (relaxed.build !== 'relaxed') return; // nothing to compare on a runtime without relaxed SIMD
  const baseline = await chooseKernelBuild(true, 'baseline', () => {});
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
  const a = instantiateKernels(relaxed.module, memory);
  const b = instantiateKernels(baseline.module, memory);
  const n = 5, k = 300, m = 24;
  const view = new Float32Array(memory.buffer);
  const w = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 1.3));
  const packed = new Float32Array(packedF32Length(m, k));
  packF32Panels(packed, w, m, k);
  const [wAt, xAt, y1, y2] = [1024, 1024 + packed.length * 4, 1024 + (packed.length + n * k) * 4, 1024 + (packed.length + n * k + n * m) * 4];
  view.set(packed, wAt / 4);
  for (let i = 0; i < n * k; i++) view[xAt / 4 + i] = Math.cos(i * 0.7);
  a.matmul_f32(y1, xAt, wAt, 0, n, k, m, 0, 0, m);
  b.matmul_f32(y2, xAt, wAt, 0, n, k, m, 0, 0, m);
  for (let i = 0; i < n * m; i++) {
    const one = view[y1 / 4 + i], two = view[y2 / 4 + i];
    // Fused and unfused multiply-adds differ by the rounding of k products: at most k * 2^-24 * sum |x w| <= k * k * 2^-24.
    assert.ok(Math.abs(one - two) <= k * k * 2 ** -24, `output ${i}: relaxed ${one}, baseline ${two}`);
  }
});

test('an explicit relaxed request either runs or throws', async () => {
  try {
    const choice = await chooseKernelBuild(true, 'relaxed', () => {});
    assert.is(choice.build, 'relaxed');
  } catch (error) {
    assert.match((error as Error).message, /cannot run/);
  }
});

test.run();
