// Throughput ceilings of the x86 instructions that the wasm operations of the int8 matmul kernels map to on
// AVX machines, measured with no loads and no dependencies between iterations. The mapping is V8's usual
// lowering; its generated code was not disassembled. bench/README.md compares the wasm kernels with them.
//
//   gcc -O2 -mavx2 -mavx512vnni -mavx512vl bench/native/int8-peak.c -o /tmp/int8-peak && /tmp/int8-peak
//
// i32x4.dot_i16x8_s + i32x4.add          -> vpmaddwd + vpaddd               (8 multiply-adds)
// i16x8.relaxed_dot_i8x16_i7x16_s        -> vpmaddubsw                      (16 multiply-adds into i16)
// i32x4.extadd_pairwise_i16x8_s          -> vpmaddwd by ones
// vpdpbusd (AVX-512 VNNI) has no wasm counterpart and is listed for reference.
#include <stdio.h>
#include <time.h>

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void report(const char *name, long iterations, int multiplyAddsPerIteration, double elapsed) {
  printf("%-44s %6.1f GOP/s\n", name, 2.0 * iterations * multiplyAddsPerIteration / elapsed / 1e9);
}

int main(void) {
  const long iterations = 100000000;

  double started = seconds();
  __asm__ volatile(
    "mov %0, %%rcx\n1:\n"
    "vpmaddwd %%xmm14, %%xmm15, %%xmm0\n vpmaddwd %%xmm14, %%xmm15, %%xmm1\n"
    "vpmaddwd %%xmm14, %%xmm15, %%xmm2\n vpmaddwd %%xmm14, %%xmm15, %%xmm3\n"
    "vpmaddwd %%xmm14, %%xmm15, %%xmm4\n vpmaddwd %%xmm14, %%xmm15, %%xmm5\n"
    "vpmaddwd %%xmm14, %%xmm15, %%xmm6\n vpmaddwd %%xmm14, %%xmm15, %%xmm7\n"
    "dec %%rcx\n jnz 1b\n"
    :: "r"(iterations) : "rcx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
  report("vpmaddwd alone", iterations, 8 * 8, seconds() - started);

  // The pair-order kernels' step: each product is added to its own accumulator.
  started = seconds();
  __asm__ volatile(
    "mov %0, %%rcx\n1:\n"
    "vpmaddwd %%xmm14, %%xmm15, %%xmm8\n vpaddd %%xmm8, %%xmm0, %%xmm0\n"
    "vpmaddwd %%xmm14, %%xmm13, %%xmm9\n vpaddd %%xmm9, %%xmm1, %%xmm1\n"
    "vpmaddwd %%xmm12, %%xmm15, %%xmm10\n vpaddd %%xmm10, %%xmm2, %%xmm2\n"
    "vpmaddwd %%xmm12, %%xmm13, %%xmm11\n vpaddd %%xmm11, %%xmm3, %%xmm3\n"
    "vpmaddwd %%xmm14, %%xmm15, %%xmm8\n vpaddd %%xmm8, %%xmm4, %%xmm4\n"
    "vpmaddwd %%xmm14, %%xmm13, %%xmm9\n vpaddd %%xmm9, %%xmm5, %%xmm5\n"
    "vpmaddwd %%xmm12, %%xmm15, %%xmm10\n vpaddd %%xmm10, %%xmm6, %%xmm6\n"
    "vpmaddwd %%xmm12, %%xmm13, %%xmm11\n vpaddd %%xmm11, %%xmm7, %%xmm7\n"
    "dec %%rcx\n jnz 1b\n"
    :: "r"(iterations) : "rcx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
       "xmm8", "xmm9", "xmm10", "xmm11");
  report("vpmaddwd + vpaddd (dot_i16x8_s + add)", iterations, 8 * 8, seconds() - started);

  // The quad-order Q4_0 kernel's step: products summed in i16 lanes, widened once per block.
  started = seconds();
  __asm__ volatile(
    "mov %0, %%rcx\n1:\n"
    "vpmaddubsw %%xmm14, %%xmm15, %%xmm8\n vpaddw %%xmm8, %%xmm0, %%xmm0\n"
    "vpmaddubsw %%xmm14, %%xmm13, %%xmm9\n vpaddw %%xmm9, %%xmm1, %%xmm1\n"
    "vpmaddubsw %%xmm12, %%xmm15, %%xmm10\n vpaddw %%xmm10, %%xmm2, %%xmm2\n"
    "vpmaddubsw %%xmm12, %%xmm13, %%xmm11\n vpaddw %%xmm11, %%xmm3, %%xmm3\n"
    "dec %%rcx\n jnz 1b\n"
    :: "r"(iterations) : "rcx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm8", "xmm9", "xmm10", "xmm11");
  report("vpmaddubsw + vpaddw (relaxed i8 dot + add)", iterations, 4 * 16, seconds() - started);

  // An i8 dot without i16 accumulation, as a Q8_0 kernel on the relaxed dot would need.
  started = seconds();
  __asm__ volatile(
    "mov %0, %%rcx\n1:\n"
    "vpmaddubsw %%xmm14, %%xmm15, %%xmm8\n vpmaddwd %%xmm8, %%xmm13, %%xmm8\n vpaddd %%xmm8, %%xmm0, %%xmm0\n"
    "vpmaddubsw %%xmm14, %%xmm12, %%xmm9\n vpmaddwd %%xmm9, %%xmm13, %%xmm9\n vpaddd %%xmm9, %%xmm1, %%xmm1\n"
    "vpmaddubsw %%xmm11, %%xmm15, %%xmm10\n vpmaddwd %%xmm10, %%xmm13, %%xmm10\n vpaddd %%xmm10, %%xmm2, %%xmm2\n"
    "vpmaddubsw %%xmm11, %%xmm12, %%xmm7\n vpmaddwd %%xmm7, %%xmm13, %%xmm7\n vpaddd %%xmm7, %%xmm3, %%xmm3\n"
    "dec %%rcx\n jnz 1b\n"
    :: "r"(iterations) : "rcx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm7", "xmm8", "xmm9", "xmm10");
  report("vpmaddubsw + vpmaddwd + vpaddd", iterations, 4 * 16, seconds() - started);

  started = seconds();
  __asm__ volatile(
    "mov %0, %%rcx\n1:\n"
    "vpdpbusd %%xmm14, %%xmm15, %%xmm0\n vpdpbusd %%xmm14, %%xmm15, %%xmm1\n"
    "vpdpbusd %%xmm14, %%xmm15, %%xmm2\n vpdpbusd %%xmm14, %%xmm15, %%xmm3\n"
    "vpdpbusd %%xmm14, %%xmm15, %%xmm4\n vpdpbusd %%xmm14, %%xmm15, %%xmm5\n"
    "vpdpbusd %%xmm14, %%xmm15, %%xmm6\n vpdpbusd %%xmm14, %%xmm15, %%xmm7\n"
    "dec %%rcx\n jnz 1b\n"
    :: "r"(iterations) : "rcx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
  report("vpdpbusd (native VNNI only)", iterations, 8 * 16, seconds() - started);
  return 0;
}
