// gemm_microkernel.h — the body of a micro-kernel, written once and compiled once per
// instruction set: common/model/gemm_dispatch.c defines the names below, includes this file,
// and it defines the function KERNEL_NAME (no include guard: it is included once per kernel).
//
//   KERNEL_NAME, KERNEL_TARGET  the function's name and its target attribute (the instructions
//                               the compiler may use in it, whatever -march says)
//   MR, NR                      the register tile of C: MR rows x NR columns
//   VEC, VL                     the vector type and the floats in one (8: __m256, 16: __m512)
//   VZERO(), VLOAD(p), VSTORE(p, v), VBCAST(p), VADD(x, y), VFMA(x, y, acc) = x * y + acc
//
// C (MR,NR) tile += Ap panel (kc,MR) · Bp panel (kc,NR):
//   acc[i][j] = sum_k a[k][i] * b[k][j]   (j in vectors of VL floats),   C[i][j] += acc[i][j]
// Per step of k: NR / VL vector loads of B, MR broadcasts of A, MR * NR / VL FMAs. The MR x NR / VL
// accumulators are independent chains, enough to keep every FMA port busy through the latency.
static KERNEL_TARGET void KERNEL_NAME(int kc, const float *restrict a, const float *restrict b, float *restrict c,
                                      long ldc) {
    VEC acc[MR][NR / VL];  // the tile of C, in registers for the whole loop over k
    // Ask for the C tile now: it is needed only after the loop, and a row of C is often far from
    // the last one read (ldc floats), so without this the final adds would wait for memory.
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) __builtin_prefetch(c + i * ldc), __builtin_prefetch(c + i * ldc + NR - 1);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NR / VL; j++) acc[i][j] = VZERO();
    for (int k = 0; k < kc; k++, a += MR, b += NR) {
        VEC bk[NR / VL];  // row k of the B panel
#pragma GCC unroll 4
        for (int j = 0; j < NR / VL; j++) bk[j] = VLOAD(b + j * VL);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {  // a[k][i] in every lane, times row k of B
            VEC ai = VBCAST(a + i);
#pragma GCC unroll 4
            for (int j = 0; j < NR / VL; j++) acc[i][j] = VFMA(ai, bk[j], acc[i][j]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NR / VL; j++) VSTORE(c + i * ldc + j * VL, VADD(VLOAD(c + i * ldc + j * VL), acc[i][j]));
}

#undef KERNEL_NAME
#undef MR
#undef NR
