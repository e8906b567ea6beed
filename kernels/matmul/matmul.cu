// matmul.cu — see matmul.cuh. The kernels are numbered in the order lesson 12 tells them; each
// comment says what the kernel improves and why that matters.
//
// Vocabulary: a warp is 32 threads that execute each instruction together. When they load 32
// consecutive floats (128 bytes) the hardware does it in one memory transaction ("coalesced");
// 32 floats spread over 32 rows take 32 transactions. Shared memory is a small on-chip memory
// per block, about as fast as L1; registers are per thread and faster still. A matrix multiply
// does 2 M N K flops on M K + K N + M N floats, so each input float can be reused up to N (or M)
// times: the kernels below differ only in how much of that reuse they capture close to the ALUs.
#include "kernels/matmul/matmul.cuh"

#include <stdint.h>

// store_c: C[at] = alpha acc + beta C[at], with beta = 0 never reading C (it may hold NaN).
__device__ __forceinline__ void store_c(float *c, float acc, float alpha, float beta) {
    *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
}

// The batch: block z works on matrix blockIdx.z of A, B and C.
#define SELECT_BATCH_MATRIX(s, A, B, C) \
    A += blockIdx.z * (s).stride_a;     \
    B += blockIdx.z * (s).stride_b;     \
    C += blockIdx.z * (s).stride_c

static int cdiv(int a, int b) { return (a + b - 1) / b; }

// LAUNCH(kernel, grid, block)(args): kernel<<<grid, block>>>(args). tests/emulate/cuda_on_cpu.h
// defines it otherwise, to run the same kernels on the CPU.
#ifndef LAUNCH
#define LAUNCH(kernel, grid, block) kernel<<<grid, block>>>
#endif

// ---------------------------------------------------------------------------------------------
// Kernels 1 and 2: one thread per element of C, 32x32 threads per block:
//   C[i][j] = sum_k A[i][k] B[k][j]: 2K loads from global memory for 2K flops.
// They differ only in which thread index is the row. The 32 threads of a warp have consecutive
// threadIdx.x (and the same threadIdx.y).
//
// Kernel 1, naive: x -> ROW i. A warp is 32 consecutive rows i of one column j: each step k
// loads A[i][k] from 32 different rows (32 transactions for 32 useful floats), B[k][j] is one
// float for all of them, and the final stores to C go to 32 different rows.
//
// Kernel 2, global-memory coalescing: x -> COLUMN j. A warp is 32 consecutive columns of one
// row: B[k][j..j+31] is one 128-byte transaction, A[i][k] is one float broadcast to the warp,
// and the stores to C are coalesced too. Same arithmetic; only the access pattern changed.
template <bool COALESCED> __global__ void matmul_per_element(GemmShape s, const float *A, const float *B, float *C) {
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int x = blockIdx.x * 32 + threadIdx.x, y = blockIdx.y * 32 + threadIdx.y;
    const int i = COALESCED ? y : x, j = COALESCED ? x : y;
    if (i >= s.M || j >= s.N) return;
    float acc = 0.0f;
    for (int k = 0; k < s.K; k++) acc += A[(long)i * s.lda + k] * B[(long)k * s.ldb + j];
    store_c(&C[(long)i * s.ldc + j], acc, s.alpha, s.beta);
}

static void launch_naive(const GemmShape *s, const float *A, const float *B, float *C) {
    LAUNCH(matmul_per_element<false>, dim3(cdiv(s->M, 32), cdiv(s->N, 32), s->batch), dim3(32, 32))(*s, A, B, C);
}

static void launch_coalesced(const GemmShape *s, const float *A, const float *B, float *C) {
    LAUNCH(matmul_per_element<true>, dim3(cdiv(s->N, 32), cdiv(s->M, 32), s->batch), dim3(32, 32))(*s, A, B, C);
}

// ---------------------------------------------------------------------------------------------
// Kernel 3: shared-memory tiles. A block computes a 32x32 tile of C. It walks K in steps of 32:
// the block copies a 32x32 tile of A and one of B into shared memory (each thread one float of
// each, coalesced), waits for all, then every thread does 32 multiply-adds from shared memory.
//   global loads per block: 2 * 32*32 per 32 steps of k, instead of 2 * 32*32 per step:
//   each float fetched from global memory now serves 32 threads.
// Threads past the edge of C still load (zeros outside the matrices) and reach every
// __syncthreads(); they only skip the store.
#define TILE 32
__global__ void matmul_shared(GemmShape s, const float *A, const float *B, float *C) {
    __shared__ float As[TILE][TILE], Bs[TILE][TILE];
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int j = blockIdx.x * TILE + tx, i = blockIdx.y * TILE + ty;
    float acc = 0.0f;
    for (int k0 = 0; k0 < s.K; k0 += TILE) {
        As[ty][tx] = (i < s.M && k0 + tx < s.K) ? A[(long)i * s.lda + k0 + tx] : 0.0f;
        Bs[ty][tx] = (k0 + ty < s.K && j < s.N) ? B[(long)(k0 + ty) * s.ldb + j] : 0.0f;
        __syncthreads();
        // As[ty][k]: one address for the warp (broadcast); Bs[k][tx]: 32 consecutive banks.
        for (int k = 0; k < TILE; k++) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();  // before the next tiles overwrite these
    }
    if (i < s.M && j < s.N) store_c(&C[(long)i * s.ldc + j], acc, s.alpha, s.beta);
}

static void launch_shared(const GemmShape *s, const float *A, const float *B, float *C) {
    LAUNCH(matmul_shared, dim3(cdiv(s->N, TILE), cdiv(s->M, TILE), s->batch), dim3(TILE, TILE))(*s, A, B, C);
}

// ---------------------------------------------------------------------------------------------
// Kernel 4: 1-D register tiling. Kernel 3 still does 2 shared-memory loads per multiply-add,
// and shared memory, though fast, is slower than the FMA units. Here each thread computes
// TM = 8 elements of one column of C, keeping them in registers:
//   block tile of C: BM x BN = 64 x 64, K step BK = 8, 512 threads = 64*64 / TM
//   per k: load b = Bs[k][col] once, then acc[r] += As[row0 + r][k] * b for r < TM
// so 1 + TM shared loads feed TM multiply-adds (the As loads are one address per warp).
// Loading the tiles: As is 64x8 = 512 floats and Bs 8x64 = 512: one of each per thread.
#define K4_BM 64
#define K4_BN 64
#define K4_BK 8
#define K4_TM 8
__global__ void __launch_bounds__(K4_BM *K4_BN / K4_TM)
    matmul_regtile_1d(GemmShape s, const float *A, const float *B, float *C) {
    __shared__ float As[K4_BM][K4_BK], Bs[K4_BK][K4_BN];
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int t = threadIdx.x;
    const int tile_i = blockIdx.y * K4_BM, tile_j = blockIdx.x * K4_BN;
    const int col = t % K4_BN, row0 = (t / K4_BN) * K4_TM;  // this thread's C: rows row0..row0+7 of the tile
    const int a_r = t / K4_BK, a_c = t % K4_BK;             // the As element it loads
    const int b_r = t / K4_BN, b_c = t % K4_BN;             // the Bs element it loads
    float acc[K4_TM] = {0.0f};
    for (int k0 = 0; k0 < s.K; k0 += K4_BK) {
        const int ai = tile_i + a_r, ak = k0 + a_c, bk = k0 + b_r, bj = tile_j + b_c;
        As[a_r][a_c] = (ai < s.M && ak < s.K) ? A[(long)ai * s.lda + ak] : 0.0f;
        Bs[b_r][b_c] = (bk < s.K && bj < s.N) ? B[(long)bk * s.ldb + bj] : 0.0f;
        __syncthreads();
        for (int k = 0; k < K4_BK; k++) {
            const float b = Bs[k][col];
#pragma unroll
            for (int r = 0; r < K4_TM; r++) acc[r] += As[row0 + r][k] * b;
        }
        __syncthreads();
    }
    const int j = tile_j + col;
#pragma unroll
    for (int r = 0; r < K4_TM; r++) {
        const int i = tile_i + row0 + r;
        if (i < s.M && j < s.N) store_c(&C[(long)i * s.ldc + j], acc[r], s.alpha, s.beta);
    }
}

static void launch_regtile_1d(const GemmShape *s, const float *A, const float *B, float *C) {
    dim3 grid(cdiv(s->N, K4_BN), cdiv(s->M, K4_BM), s->batch);
    LAUNCH(matmul_regtile_1d, grid, K4_BM * K4_BN / K4_TM)(*s, A, B, C);
}

// ---------------------------------------------------------------------------------------------
// Kernel 5: 2-D register tiling. Each thread computes a TM x TN = 8 x 8 patch of C:
//   block tile BM x BN = 128 x 128, BK = 8, 256 threads = 128*128 / 64
//   per k: reg_a[r] = As[row0 + r][k] (8 loads), reg_b[c] = Bs[k][col0 + c] (8 loads),
//          acc[r][c] += reg_a[r] * reg_b[c]  (64 multiply-adds: an outer product)
// 16 shared loads per 64 multiply-adds (kernel 4: 9 per 8; kernel 3: 2 per 1). A block also
// reuses each global float 128 times instead of 64. The 64 accumulators live in registers
// because every index into acc/reg_a/reg_b is a compile-time constant after unrolling.
// Loading: As is 128x8 = 1024 floats and Bs 8x128 = 1024: four of each per thread, in rows
// 256/8 = 32 (As) and 256/128 = 2 (Bs) apart.
// __launch_bounds__(256, 2) asks for two resident blocks per multiprocessor, which caps a thread
// at 65536 / (2 * 256) = 128 registers (nvcc -Xptxas -v: 128 used, no spills); without it the
// compiler takes 130 and only one block (8 warps) fits. Kernel 6 has the same bound.
#define RT_BM      128
#define RT_BN      128
#define RT_BK      8
#define RT_TM      8
#define RT_TN      8
#define RT_THREADS (RT_BM * RT_BN / (RT_TM * RT_TN))
// outer_product_add: acc[r][c] += a[r] * b[c], the 64 multiply-adds of one k step.
__device__ __forceinline__ void outer_product_add(float (&acc)[RT_TM][RT_TN], const float (&a)[RT_TM],
                                                  const float (&b)[RT_TN]) {
#pragma unroll
    for (int r = 0; r < RT_TM; r++)
#pragma unroll
        for (int c = 0; c < RT_TN; c++) acc[r][c] += a[r] * b[c];
}

__global__ void __launch_bounds__(RT_THREADS, 2)
    matmul_regtile_2d(GemmShape s, const float *A, const float *B, float *C) {
    __shared__ float As[RT_BM][RT_BK], Bs[RT_BK][RT_BN];
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int t = threadIdx.x;
    const int tile_i = blockIdx.y * RT_BM, tile_j = blockIdx.x * RT_BN;
    const int row0 = (t / (RT_BN / RT_TN)) * RT_TM, col0 = (t % (RT_BN / RT_TN)) * RT_TN;
    float acc[RT_TM][RT_TN] = {{0.0f}}, reg_a[RT_TM], reg_b[RT_TN];
    for (int k0 = 0; k0 < s.K; k0 += RT_BK) {
        for (int r = t / RT_BK; r < RT_BM; r += RT_THREADS / RT_BK) {
            const int i = tile_i + r, k = k0 + t % RT_BK;
            As[r][t % RT_BK] = (i < s.M && k < s.K) ? A[(long)i * s.lda + k] : 0.0f;
        }
        for (int r = t / RT_BN; r < RT_BK; r += RT_THREADS / RT_BN) {
            const int k = k0 + r, j = tile_j + t % RT_BN;
            Bs[r][t % RT_BN] = (k < s.K && j < s.N) ? B[(long)k * s.ldb + j] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < RT_BK; k++) {
#pragma unroll
            for (int r = 0; r < RT_TM; r++) reg_a[r] = As[row0 + r][k];
#pragma unroll
            for (int c = 0; c < RT_TN; c++) reg_b[c] = Bs[k][col0 + c];
            outer_product_add(acc, reg_a, reg_b);
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < RT_TM; r++)
#pragma unroll
        for (int c = 0; c < RT_TN; c++) {
            const int i = tile_i + row0 + r, j = tile_j + col0 + c;
            if (i < s.M && j < s.N) store_c(&C[(long)i * s.ldc + j], acc[r][c], s.alpha, s.beta);
        }
}

static void launch_regtile_2d(const GemmShape *s, const float *A, const float *B, float *C) {
    LAUNCH(matmul_regtile_2d, dim3(cdiv(s->N, RT_BN), cdiv(s->M, RT_BM), s->batch), RT_THREADS)(*s, A, B, C);
}

// ---------------------------------------------------------------------------------------------
// Kernel 6: vectorized loads. Kernel 5's tiles and thread patches, with wider memory accesses:
//   - global memory is read and written as float4 (16 bytes per instruction, 4x fewer load
//     instructions): each thread loads ONE float4 of A's 128x8 tile (row t/2, k (t%2)*4) and
//     one float4 of B's 8x128 tile (row t/32, column (t%32)*4), and stores C as float4;
//   - the A tile is stored TRANSPOSED in shared memory, AsT[k][i], so a thread's 8 values
//     reg_a[r] = A[row0 + r][k] are consecutive: two float4 shared loads instead of 8 scalar
//     ones, as reg_b already was (Bs[k][col0..col0+7]).
// A float4 access needs a 16-byte aligned address: row starts (lda, ldb, ldc), batch strides
// and base pointers must be multiples of 4 floats, and then every float4 is either wholly inside
// the matrix or wholly outside (K and N are multiples of 4 too, as their leading dimensions).
// When that does not hold (odd sizes), the same kernel runs with scalar global accesses
// (VEC = false); the shared-memory layout and the float4 shared loads stay.
template <bool VEC> __device__ __forceinline__ float4 load4(const float *row, int col, int limit) {
    // row[col..col+3], zeros at and past `limit`
    if (VEC) return col < limit ? *reinterpret_cast<const float4 *>(row + col) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    return make_float4(col < limit ? row[col] : 0.0f, col + 1 < limit ? row[col + 1] : 0.0f,
                       col + 2 < limit ? row[col + 2] : 0.0f, col + 3 < limit ? row[col + 3] : 0.0f);
}

template <bool VEC>
__device__ __forceinline__ void store4(float *row, int col, int limit, float4 acc, float alpha, float beta) {
    // row[col..col+3] = alpha acc + beta row[...], only below `limit`
    if (VEC) {
        if (col >= limit) return;
        float4 *p = reinterpret_cast<float4 *>(row + col);
        float4 old = beta == 0.0f ? make_float4(0.0f, 0.0f, 0.0f, 0.0f) : *p;
        *p = make_float4(alpha * acc.x + beta * old.x, alpha * acc.y + beta * old.y, alpha * acc.z + beta * old.z,
                         alpha * acc.w + beta * old.w);
        return;
    }
    const float v[4] = {acc.x, acc.y, acc.z, acc.w};
#pragma unroll
    for (int c = 0; c < 4; c++)
        if (col + c < limit) store_c(&row[col + c], v[c], alpha, beta);
}

__device__ __forceinline__ void unpack4(float4 v, float *dst) {
    dst[0] = v.x, dst[1] = v.y, dst[2] = v.z, dst[3] = v.w;
}

template <bool VEC>
__global__ void __launch_bounds__(RT_THREADS, 2)
    matmul_vectorized(GemmShape s, const float *A, const float *B, float *C) {
    __shared__ __align__(16) float AsT[RT_BK][RT_BM];
    __shared__ __align__(16) float Bs[RT_BK][RT_BN];
    SELECT_BATCH_MATRIX(s, A, B, C);
    const int t = threadIdx.x;
    const int tile_i = blockIdx.y * RT_BM, tile_j = blockIdx.x * RT_BN;
    const int row0 = (t / (RT_BN / RT_TN)) * RT_TM, col0 = (t % (RT_BN / RT_TN)) * RT_TN;
    const int a_r = t / (RT_BK / 4), a_k = (t % (RT_BK / 4)) * 4;  // 128 rows x 2 float4
    const int b_r = t / (RT_BN / 4), b_c = (t % (RT_BN / 4)) * 4;  // 8 rows x 32 float4
    float acc[RT_TM][RT_TN] = {{0.0f}}, reg_a[RT_TM], reg_b[RT_TN];
    for (int k0 = 0; k0 < s.K; k0 += RT_BK) {
        const int ai = tile_i + a_r, bk = k0 + b_r;
        const float4 a = load4<VEC>(A + (long)ai * s.lda, k0 + a_k, ai < s.M ? s.K : 0);
        AsT[a_k + 0][a_r] = a.x, AsT[a_k + 1][a_r] = a.y, AsT[a_k + 2][a_r] = a.z, AsT[a_k + 3][a_r] = a.w;
        *reinterpret_cast<float4 *>(&Bs[b_r][b_c]) = load4<VEC>(B + (long)bk * s.ldb, tile_j + b_c, bk < s.K ? s.N : 0);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < RT_BK; k++) {
#pragma unroll
            for (int r = 0; r < RT_TM; r += 4) unpack4(*reinterpret_cast<const float4 *>(&AsT[k][row0 + r]), &reg_a[r]);
#pragma unroll
            for (int c = 0; c < RT_TN; c += 4) unpack4(*reinterpret_cast<const float4 *>(&Bs[k][col0 + c]), &reg_b[c]);
            outer_product_add(acc, reg_a, reg_b);
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < RT_TM; r++) {
        const int i = tile_i + row0 + r;
        if (i >= s.M) break;
#pragma unroll
        for (int c = 0; c < RT_TN; c += 4)
            store4<VEC>(C + (long)i * s.ldc, tile_j + col0 + c, s.N,
                        make_float4(acc[r][c], acc[r][c + 1], acc[r][c + 2], acc[r][c + 3]), s.alpha, s.beta);
    }
}

// float4_ok: every float4 access of kernel 6 is 16-byte aligned (see above).
static bool float4_ok(const GemmShape *s, const float *A, const float *B, const float *C) {
    const long dims[] = {s->K, s->N, s->lda, s->ldb, s->ldc, s->stride_a, s->stride_b, s->stride_c};
    for (unsigned d = 0; d < sizeof dims / sizeof dims[0]; d++)
        if (dims[d] % 4) return false;
    return (uintptr_t)A % 16 == 0 && (uintptr_t)B % 16 == 0 && (uintptr_t)C % 16 == 0;
}

static void launch_vectorized(const GemmShape *s, const float *A, const float *B, float *C) {
    dim3 grid(cdiv(s->N, RT_BN), cdiv(s->M, RT_BM), s->batch);
    if (float4_ok(s, A, B, C)) LAUNCH(matmul_vectorized<true>, grid, RT_THREADS)(*s, A, B, C);
    else LAUNCH(matmul_vectorized<false>, grid, RT_THREADS)(*s, A, B, C);
}

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
