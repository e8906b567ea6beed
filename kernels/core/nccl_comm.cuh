// nccl_comm.cuh — NCCL, NVIDIA's collective-communication library, for data parallelism on GPUs:
// one communicator of N ranks (one GPU each) and the mean of a device buffer over them, run on a
// stream of its own so that it can overlap the backward pass. Introduced by the trainer's
// multi-process runs on --device cuda (kernels/backend/backend_gpu.cu; lesson 18 explains the
// all-reduce). The ranks' processes are started and introduced to each other by MPI
// (common/train/dist.h): rank 0 makes the communicator's id (nccl_unique_id), every rank gets it
// by MPI broadcast, then all call nccl_comm_init with it.
//
// The library is loaded at run time (dlopen of libnccl.so.2), only when a communicator is first
// made: the programs link no NCCL, so they run where it is not installed (a single GPU, the
// CPU), and the 200 MiB library is not carried to the GPU machine (bench/gpu_pack.sh). Its
// declarations come from the toolkit's <nccl.h>; the emulated build's stand-in
// (tests/emulate/cuda/nccl.h) defines NCCL_OPEN and NCCL_SYMBOL first, to a 1-rank NCCL on the CPU.
//
// Every NCCL call is checked as CUDA's are (cuda_common.cuh), one line naming the call:
//   error: ncclAllReduce(...) failed: unhandled system error (run with NCCL_DEBUG=WARN for
//          details) (ncclSystemError): socket connect failed at kernels/core/nccl_comm.cu:80
//
// Layers: kernels/core; includes cuda_common.cuh only (no MPI: the caller broadcasts the id).
#pragma once
#include <nccl.h>

#include "kernels/core/cuda_common.cuh"

#define NCCL_CHECK(call) nccl_check((call), #call, __FILE__, __LINE__)
void nccl_check(ncclResult_t r, const char *call, const char *file, int line);

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;  // the collectives' stream: non-blocking (it never waits for stream 0 unless told)
    int rank, world;
} NcclComm;

// nccl_unique_id: (rank 0 only) the id the ranks' communicator is made from; loads NCCL.
ncclUniqueId nccl_unique_id(void);
// nccl_comm_init: this rank's communicator of `world` ranks, made from rank 0's id (a collective
// call: it returns when every rank has made it). Loads NCCL; the current CUDA device is the rank's.
NcclComm nccl_comm_init(ncclUniqueId id, int world, int rank);
// nccl_mean_floats: x (n floats, device) <- the mean of every rank's x, in place, queued on
// c->stream (ncclAllReduce with ncclAvg: the sum over ranks in NCCL's order, divided by world).
void nccl_mean_floats(NcclComm *c, float *x, size_t n);
void nccl_comm_free(NcclComm *c);
// nccl_version: "2.28.9" for the loaded library (loads it).
void nccl_version(char *out, size_t n);
