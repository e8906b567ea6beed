// matmul.cu — see matmul.cuh: the runner of lesson 12's ladder. Each kernel, with its launch
// configuration and a comment on what it improves and why that matters, is its numbered file.
#include "kernels/matmul/matmul.cuh"

#include "kernels/matmul/1_naive.cuh"
#include "kernels/matmul/2_coalesced.cuh"
#include "kernels/matmul/3_shared.cuh"
#include "kernels/matmul/4_regtile_1d.cuh"
#include "kernels/matmul/5_regtile_2d.cuh"
#include "kernels/matmul/6_vectorized.cuh"

// ---------------------------------------------------------------------------------------------
// The table lesson 12 and the tests iterate over.
const MatmulKernel matmul_kernels[] = {
    {"1 naive", "one thread per C element, a warp walks 32 rows of A", launch_naive},
    {"2 coalesced", "a warp walks 32 columns: B and C accesses coalesced", launch_coalesced},
    {"3 shared tiles", "32x32 tiles of A and B in shared memory: 32x fewer global loads", launch_shared},
    {"4 1-D register tile", "8 C elements per thread: 9 shared loads per 8 FMAs", launch_regtile_1d},
    {"5 2-D register tile", "8x8 C elements per thread: 16 shared loads per 64 FMAs", launch_regtile_2d},
    {"6 vectorized", "float4 global loads/stores, transposed A tile, float4 shared loads", launch_vectorized},
};
const int matmul_kernel_count = sizeof matmul_kernels / sizeof matmul_kernels[0];

void matmul_kernel_run(const MatmulKernel *k, const GemmShape *s, const float *A, const float *B, float *C) {
    if (s->trans_a || s->trans_b) die("matmul kernel %s: transposed operands are not supported", k->name);
    if (s->batch < 1 || s->batch > 65535)
        die("matmul kernel %s: batch %d outside 1..65535 (grid z)", k->name, s->batch);
    if (s->M < 1 || s->N < 1 || s->K < 1) die("matmul kernel %s: empty shape %dx%dx%d", k->name, s->M, s->N, s->K);
    k->launch(s, A, B, C);
    CUDA_CHECK_LAUNCH();
}
