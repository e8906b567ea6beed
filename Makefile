# bertstep — one entry point.
#   make            build every lesson this machine can build into build/, fetch data + checkpoint
#   make run        the main job (see README.md)
#   make test       build and run the CPU test suite (Criterion)
#   make test-gpu   build and run the GPU tests (needs nvcc and a GPU)
#   make bench      CPU benchmarks (bench/); bench/gpu.sh is the GPU one
#   make clean      remove build/ (data/cache/ stays; `make distclean` removes it too)

CC      ?= cc
NVCC    ?= nvcc
# -march=native: the matmul lessons measure this machine's peak; results are checked
# with tolerances, never against bits produced on another machine.
CFLAGS  ?= -O3 -march=native
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-missing-field-initializers -g -fopenmp -I. -isystem /usr/include/stb
LIBS    := -lutf8proc -lcjson -lcsv -lstb -lm
LDLIBS  := $(LIBS) -fopenmp
# GPU programs: nvcc links the CUDA runtime statically (its default), and --as-needed keeps only
# the shared libraries a program really uses, so a GPU binary built here also runs on a GPU
# machine that lacks the CPU lessons' libraries (bench/gpu.sh).
NV_LDLIBS := -Xlinker --as-needed $(LIBS) -lgomp -lcublas -lcublasLt
NVFLAGS ?= -O3 -arch=sm_90 -lineinfo
NVFLAGS += -std=c++17 -I. -isystem /usr/include/stb -Xcompiler -Wall,-Wextra,-Wno-missing-field-initializers,-fopenmp

B := build

# OpenMP threads waiting at the end of a parallel region sleep instead of spinning. On a machine
# shared with other jobs, spinning threads take the cores the working threads need (lesson 11's
# default run: 4x the CPU time under load); on an idle machine sleeping costs microseconds.
export OMP_WAIT_POLICY ?= passive

COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
KERNEL_SRC := $(sort $(wildcard kernels/*.cu))
KERNEL_OBJ := $(KERNEL_SRC:%.cu=$(B)/obj/%.o)
CPU_LESSONS := $(patsubst lessons/%.c,$(B)/%,$(sort $(wildcard lessons/*.c)))
GPU_LESSONS := $(patsubst lessons/%.cu,$(B)/%,$(sort $(wildcard lessons/*.cu)))
TEST_SRC    := $(sort $(wildcard tests/test_*.c)) tests/fixture.c
GPU_TEST_SRC := $(sort $(wildcard tests/gpu/test_*.cu)) tests/gpu/harness.cu

HAVE_NVCC := $(shell command -v $(NVCC) >/dev/null 2>&1 && echo yes)
ifeq ($(HAVE_NVCC),yes)
  LESSONS := $(CPU_LESSONS) $(GPU_LESSONS)
else
  LESSONS := $(CPU_LESSONS)
endif

.PHONY: all deps lessons probe data run test test-gpu bench clean distclean
all: probe lessons data

# deps: the Debian packages (installed when run as root, else the command to run is printed).
deps:
	@bash scripts/deps.sh

probe: deps
	@printf 'C compiler : %s\n' "$$($(CC) --version | head -n1)"
	@printf 'OpenMP     : %s\n' "$$(echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes || echo no)"
ifeq ($(HAVE_NVCC),yes)
	@printf 'nvcc       : %s (GPU lessons built for sm_90)\n' "$$($(NVCC) --version | tail -n1)"
else
	@printf 'nvcc       : not found; skipped GPU lessons: %s\n' "$(notdir $(GPU_LESSONS))"
endif

lessons: $(LESSONS)

$(B)/obj/%.o: %.c $(wildcard common/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/obj/%.o: %.cu $(wildcard common/*.h kernels/*.cuh) | deps
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

$(B)/libbertstep.a: $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libbertstep_cuda.a: $(KERNEL_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The trainer (lesson 16) runs its model behind common/backend.h. With nvcc it is linked by nvcc
# with the GPU backend (kernels/backend_gpu.cu in libbertstep_cuda.a) and the CUDA build of the
# backend registry (common/backend_registry.c, which explains the two builds); without nvcc it
# is a C program like the others and --device cuda is refused.
BACKEND_LESSONS := $(B)/16_trainer
ifeq ($(HAVE_NVCC),yes)
  CC_LESSONS := $(filter-out $(BACKEND_LESSONS),$(CPU_LESSONS))
else
  CC_LESSONS := $(CPU_LESSONS)
endif

$(CC_LESSONS): $(B)/%: lessons/%.c $(B)/libbertstep.a $(wildcard common/*.h)
	$(CC) $(CFLAGS) $< -o $@ $(B)/libbertstep.a $(LDLIBS)

$(B)/obj/common/backend_registry_cuda.o: common/backend_registry.c $(wildcard common/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DBERTSTEP_HAVE_CUDA=1 -c $< -o $@

ifeq ($(HAVE_NVCC),yes)
$(BACKEND_LESSONS): $(B)/%: $(B)/obj/lessons/%.o $(B)/obj/common/backend_registry_cuda.o $(B)/libbertstep_cuda.a $(B)/libbertstep.a
	$(NVCC) $(NVFLAGS) $(B)/obj/lessons/$*.o $(B)/obj/common/backend_registry_cuda.o -o $@ $(B)/libbertstep_cuda.a \
	    $(B)/libbertstep.a $(NV_LDLIBS)
endif

$(GPU_LESSONS): $(B)/%: lessons/%.cu $(B)/libbertstep_cuda.a $(B)/libbertstep.a $(wildcard common/*.h kernels/*.cuh)
	$(NVCC) $(NVFLAGS) $< -o $@ $(B)/libbertstep_cuda.a $(B)/libbertstep.a $(NV_LDLIBS)

# Data sets and the default checkpoint go to data/cache/ (git-ignored). A machine without
# network still builds; the lessons that need data then say how to get it.
data:
	@bash data/fetch.sh || echo "warning: data/fetch.sh failed; lessons that need data will say so"

$(B)/tests/run_tests: $(TEST_SRC) $(B)/libbertstep.a $(wildcard common/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_SRC) -o $@ $(B)/libbertstep.a $(LDLIBS) -lcriterion

# Lessons 12 and 13's CUDA kernels (and lesson 13's whole GPU BERT, cuBLAS standing in as the CPU
# sgemm), compiled by the C++ compiler against tests/emulate/cuda_on_cpu.h and run on CPU threads:
# the suite checks their index arithmetic and results without a GPU or nvcc.
# (-Wno-unknown-pragmas: `#pragma unroll` is nvcc's.)
EMU_TEST_SRC := $(sort $(wildcard tests/emulate/test_*.cpp))
EMU_FLAGS := -std=c++20 -O2 -g -Wall -Wextra -Wno-missing-field-initializers -Wno-unknown-pragmas -pthread \
             -DBERTSTEP_CPU_EMULATION -I.
$(B)/tests/emulated_kernels: $(EMU_TEST_SRC) $(KERNEL_SRC) $(B)/libbertstep.a $(wildcard common/*.h kernels/*.cuh tests/gpu/*.h tests/emulate/*.h)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(EMU_TEST_SRC) -o $@ $(B)/libbertstep.a $(LDLIBS) -lcriterion

# The suite runs lessons as programs, so they are built (and data fetched) first.
test: lessons data $(B)/tests/run_tests $(B)/tests/emulated_kernels
	$(B)/tests/run_tests --jobs 2
	$(B)/tests/emulated_kernels --jobs 2

$(B)/tests/gpu_tests: $(GPU_TEST_SRC) $(B)/libbertstep_cuda.a $(B)/libbertstep.a $(wildcard common/*.h kernels/*.cuh tests/gpu/*.cuh tests/gpu/*.h)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) $(GPU_TEST_SRC) -o $@ $(B)/libbertstep_cuda.a $(B)/libbertstep.a $(NV_LDLIBS)

test-gpu: lessons $(B)/tests/gpu_tests
	$(B)/tests/gpu_tests

# The main job: lesson 16, the trainer, on the default checkpoint and SST-2.
run: lessons data
	bash scripts/run_main.sh

# Benchmark programs: bench/NAME.c -> build/bench/NAME, run by the bench/*.sh scripts.
BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%,$(sort $(wildcard bench/*.c)))
$(BENCH_BIN): $(B)/bench/%: bench/%.c $(B)/libbertstep.a $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(B)/libbertstep.a $(LDLIBS)

bench: lessons data $(BENCH_BIN)
	@for b in bench/*.sh; do [ "$$b" = bench/gpu.sh ] || bash $$b; done

clean:
	rm -rf $(B)

distclean: clean
	rm -rf data/cache
