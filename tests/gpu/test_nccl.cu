// test_nccl.cu — NCCL on one GPU (kernels/core/nccl_comm.cuh), the data-parallel trainer's
// all-reduce: a communicator of one rank averages bert-base's gradient buffer (fp32, the size of
// every parameter) in place; the mean over one rank must leave every float as it was. Then the
// same all-reduce is timed (mean of 20 after 3 warm-up calls) and its rate printed, the
// "algorithm bandwidth" of nccl-tests (bytes / time). Over one rank NCCL moves no data between
// GPUs, so this is the fixed cost of a call and a pass over the buffer, not a link's speed:
// lesson 18 works out the ring's time on NVLink and Ethernet. Needs libnccl.so.2 on the library
// path (bench/gpu_env.sh finds the toolkit's or pip's); without it the test says so and passes.
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "kernels/core/nccl_comm.cuh"
#include "tests/gpu/harness.cuh"

extern "C" {
#include "common/model/memory.h"
}

// bert_base_numel: the floats of bert-base-uncased's parameters with a 2-label classifier.
static size_t bert_base_numel(void) {
    BertConfig c = {};
    c.vocab_size = 30522, c.hidden_size = 768, c.num_hidden_layers = 12, c.num_attention_heads = 12;
    c.intermediate_size = 3072, c.max_position_embeddings = 512, c.type_vocab_size = 2, c.num_labels = 2;
    return bert_param_count(&c);
}

GPU_TEST(nccl_one_rank_allreduce_bert_base) {
    void *lib = dlopen("libnccl.so.2", RTLD_NOW);
    if (!lib) {
        printf("NCCL: not run: libnccl.so.2 is not on the library path (%s)\n", dlerror());
        return;
    }
    dlclose(lib);
    char version[32];
    nccl_version(version, sizeof version);
    const size_t n = bert_base_numel(), bytes = sizeof(float) * n;
    float *host = (float *)xmalloc(bytes), *back = (float *)xmalloc(bytes);
    Rng r;
    rng_seed(&r, 1, 0);
    for (size_t i = 0; i < n; i++) host[i] = rng_normal(&r);
    float *x = (float *)cuda_malloc(bytes, "bert-base's gradients");
    CUDA_CHECK(cudaMemcpy(x, host, bytes, cudaMemcpyHostToDevice));

    NcclComm c = nccl_comm_init(nccl_unique_id(), 1, 0);
    nccl_mean_floats(&c, x, n);
    CUDA_CHECK(cudaStreamSynchronize(c.stream));
    CUDA_CHECK(cudaMemcpy(back, x, bytes, cudaMemcpyDeviceToHost));
    CHECK(!memcmp(back, host, bytes), "a 1-rank ncclAvg changed the buffer");

    enum { WARMUP = 3, CALLS = 20 };
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    for (int i = 0; i < WARMUP; i++) nccl_mean_floats(&c, x, n);
    CUDA_CHECK(cudaEventRecord(start, c.stream));
    for (int i = 0; i < CALLS; i++) nccl_mean_floats(&c, x, n);
    CUDA_CHECK(cudaEventRecord(stop, c.stream));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    const double per_call = ms / CALLS;
    printf("NCCL %s, 1 rank: all-reduce (ncclAvg) of %zu floats (%.1f MB, bert-base's gradients): %.3f ms, "
           "%.1f GB/s\n",
           version, n, bytes / 1e6, per_call, bytes / (per_call * 1e-3) / 1e9);
    CUDA_CHECK(cudaEventDestroy(start));
    CUDA_CHECK(cudaEventDestroy(stop));
    nccl_comm_free(&c);
    CUDA_CHECK(cudaFree(x));
    free(host), free(back);
}
