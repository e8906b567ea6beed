// rng.h — the project's one random number generator, deterministic and documented.
// Introduced by lesson 02 (shuffling); used for initialisation, dropout and data order.
//
// Algorithm: PCG32 (O'Neill 2014, "PCG-XSH-RR"): a 64-bit linear congruential state
//   state <- state * 6364136223846793005 + inc        (inc odd)
// and a 32-bit output made by xor-shifting the high bits and rotating by the top 5 bits.
// It is small, fast, passes BigCrush, and its whole state is two integers, so a
// checkpoint saves it exactly and a resumed run draws the same numbers (bit for bit).
// The same seed gives the same stream on every machine.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc;  // stream selector, always odd
} Rng;

// rng_seed: seed a generator; `stream` selects one of 2^63 independent sequences, so
// one seed can drive e.g. data order (stream 1) and dropout (stream 2) independently.
void rng_seed(Rng *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(Rng *r);
// rng_below: uniform integer in [0, n), without modulo bias.
uint32_t rng_below(Rng *r, uint32_t n);
// rng_uniform: float in [0, 1) with 24 random bits.
float rng_uniform(Rng *r);
// rng_normal: standard normal N(0, 1) by the Box-Muller transform (uses two uniforms).
float rng_normal(Rng *r);
// rng_permutation: perm[0..n) = a uniform random permutation of 0..n-1 (Fisher-Yates).
void rng_permutation(Rng *r, int *perm, int n);
