// rng.h — the project's one random number generator, deterministic and documented.
// Introduced by lesson 02 (shuffling); used for initialisation, dropout and data order, each
// from a stream of its own (the table below).
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

// The streams. One seed drives every draw of a run; each kind of draw has a stream of its own,
// so no two uses ever see the same numbers, and drawing more for one never shifts another.
// Every program names its stream from this table, and only this table says which is which:
//
//   stream               what it draws                                  who draws it
//   e = 0, 1, 2, ...     epoch e's order of the examples (a permutation) epoch_order (common/text/
//                                                                        dataset.h): lessons 06, 07,
//                                                                        11, 14, 15 and the trainer
//   RNG_STREAM_INIT      weights a model starts from: BERT's pooler and  bert_load (lessons 10-16),
//                        classifier when a checkpoint lacks them, a      lessons 02, 05, 06
//                        softmax regression's weights
//   RNG_STREAM_DROPOUT   dropout masks (training forwards)               lessons 09, 11, 13-15, the
//                                                                        trainer, bench/bert_step.c
//   RNG_STREAM_ROUNDING  the random bits of stochastic rounding          lesson 14 (mixed_precision.c)
//   RNG_STREAM_EXAMPLES  made-up inputs: synthetic examples (and lesson  lessons 02, 05, 08, 09, 12,
//                        02's shuffles of them), random matrices and     13, bench/bert_step.c
//                        tensors, random token ids and labels
//   RNG_STREAM_CHECKPOINT  a made-up checkpoint's weights                lesson 13 (random weights at
//                                                                        bert-base's shape)
//
// The named streams are four ASCII letters read as a number (1.6e9 and up), above every epoch
// stream (epoch_order refuses an epoch >= RNG_EPOCH_STREAMS). The trainer's dropout stream was
// "drop" before this table existed, and still is.
typedef enum {
    RNG_EPOCH_STREAMS = 1 << 30,         // streams 0 .. 2^30 - 1: epoch e's order is stream e
    RNG_STREAM_INIT = 0x696e6974,        // "init"
    RNG_STREAM_DROPOUT = 0x64726f70,     // "drop"
    RNG_STREAM_ROUNDING = 0x726f756e,    // "roun"
    RNG_STREAM_EXAMPLES = 0x6578616d,    // "exam"
    RNG_STREAM_CHECKPOINT = 0x636b7074,  // "ckpt"
} RngStream;

// rng_seed: seed a generator; `stream` selects one of 2^63 independent sequences (the table
// above names the project's).
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
