// 6_vectorized.cuh — lesson 12's kernel 6, vectorized loads. Kernel 5's tiles and thread patches,
// with wider memory accesses:
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
#pragma once
#include <stdint.h>

#include "kernels/matmul/common.cuh"

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

// matmul_float4_ok (matmul.cuh): every float4 access of kernel 6 is 16-byte aligned (see above).
bool matmul_float4_ok(const GemmShape *s, const float *A, const float *B, const float *C) {
    const long dims[] = {s->K, s->N, s->lda, s->ldb, s->ldc, s->stride_a, s->stride_b, s->stride_c};
    for (unsigned d = 0; d < sizeof dims / sizeof dims[0]; d++)
        if (dims[d] % 4) return false;
    return (uintptr_t)A % 16 == 0 && (uintptr_t)B % 16 == 0 && (uintptr_t)C % 16 == 0;
}

static void launch_vectorized(const GemmShape *s, const float *A, const float *B, float *C) {
    dim3 grid(cdiv(s->N, RT_BN), cdiv(s->M, RT_BM), s->batch);
    if (matmul_float4_ok(s, A, B, C)) LAUNCH(matmul_vectorized<true>, grid, RT_THREADS)(*s, A, B, C);
    else LAUNCH(matmul_vectorized<false>, grid, RT_THREADS)(*s, A, B, C);
}
