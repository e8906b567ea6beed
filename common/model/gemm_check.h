// gemm_check.h — is a computed matrix product right? Every element is compared with a CPU
// reference (common/model/matmul.c sgemm), within a tolerance derived from the precision it was
// computed in. Introduced by lesson 12 (cuda_matmul) to validate each GPU kernel; the GPU
// tests (tests/gpu/) use it for every kernel and cuBLAS call.
//
// The tolerance is the classic rounding-error bound of a dot product (Higham, "Accuracy and
// Stability of Numerical Algorithms", ch. 3): computed in floating point with unit roundoff u,
//
//   |fl(sum_k a_k b_k) - sum_k a_k b_k|  <=  K u  sum_k |a_k| |b_k|      (to first order)
//
// so element (i,j) of C = alpha op(A) op(B) + beta C0 may differ from the exact value by
// gamma * bound_ij, bound = |alpha| |op(A)|·|op(B)| + |beta| |C0|, where gamma adds up:
//   - the inputs' rounding when they are stored in a narrower format first (TF32, BF16):
//     each product a'b' = ab (1+d1)(1+d2), |d| <= u_in, so about 2 u_in;
//   - K+2 float32 additions (and the alpha/beta step) on the GPU and as many in the CPU
//     reference, each off by at most 2^-23 relative even when the hardware truncates
//     instead of rounding (tensor cores may): 2 (K+2) 2^-23.
// It is a worst case, far above the error random data really shows; the check also reports
// the worst |error| / tolerance, so a kernel that is right shows a ratio well below 1, and
// one that reads a wrong element or drops a term is off by about |a||b| or more.
#pragma once
#include <stdbool.h>
#include <stddef.h>

// GemmPrecision: what the multiply-adds see. Accumulation is float32 in all three.
typedef enum {
    GEMM_FP32,  // float32 inputs, float32 multiply-adds
    GEMM_TF32,  // inputs rounded to TF32 (8-bit exponent, 10-bit mantissa) by the tensor cores
    GEMM_BF16,  // inputs stored as bfloat16 (8-bit exponent, 7-bit mantissa)
} GemmPrecision;

// GemmShape: one (batched) product, row-major as in sgemm: C (M,N) = alpha op(A) op(B) + beta C
// for each of `batch` matrices; matrix b of A starts at A + b*stride_a, and so on.
typedef struct {
    bool trans_a, trans_b;
    int M, N, K, batch;
    int lda, ldb, ldc;
    long stride_a, stride_b, stride_c;
    float alpha, beta;
} GemmShape;

// gemm_shape: the plain packed case: no transposes, lda = K, ldb = N, ldc = N, matrices of a
// batch back to back, alpha = 1, beta = 0.
GemmShape gemm_shape(int M, int N, int K, int batch);
// gemm_shape_padded: with transposes, every leading dimension `pad` floats wider than its rows
// and every batch stride `pad` floats longer than its matrix (the tests' awkward layouts).
GemmShape gemm_shape_padded(int M, int N, int K, int batch, bool trans_a, bool trans_b, int pad);
// gemm_elements_a/b/c: floats spanned by A, B or C over the whole batch.
long gemm_elements_a(const GemmShape *s);
long gemm_elements_b(const GemmShape *s);
long gemm_elements_c(const GemmShape *s);
// gemm_flops: 2 M N K per matrix (one multiply and one add per term).
double gemm_flops(const GemmShape *s);

// gemm_input_roundoff: u_in of the precision: 0 for FP32, 2^-10 for TF32 (its 10 mantissa bits,
// allowing truncation), 2^-8 for BF16 (7 mantissa bits, rounded to nearest).
double gemm_input_roundoff(GemmPrecision p);
const char *gemm_precision_name(GemmPrecision p);
// gemm_gamma: gamma = 2 u_in + 2 (K+2) 2^-23 (see above).
double gemm_gamma(int K, GemmPrecision p);

// gemm_reference: want = alpha op(A) op(B) + beta C0 and bound = |alpha| |op(A)|·|op(B)| + |beta| |C0|
// on the CPU, both with ldc/stride_c layout. C0 may be NULL when beta == 0.
void gemm_reference(const GemmShape *s, const float *A, const float *B, const float *C0, float *want, float *bound);

typedef struct {
    long checked, bad;                // elements compared, elements outside the tolerance (NaN counts)
    double worst;                     // max over elements of |got - want| / tolerance
    int bad_batch, bad_row, bad_col;  // the first bad element, when bad > 0
    double bad_got, bad_want, bad_tol;
} GemmCheck;

// gemm_compare: every element of got against want, |got - want| <= gamma * bound.
GemmCheck gemm_compare(const GemmShape *s, const float *got, const float *want, const float *bound, double gamma);
// gemm_check_line: one line saying what gemm_compare found, for a table or an error message.
void gemm_check_line(const GemmCheck *c, char *out, size_t n);
