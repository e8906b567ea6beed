# bertstep — one entry point.
#   make            build every lesson this machine can build into build/, fetch data + checkpoint
#   make run        the main job (see README.md)
#   make test       build and run the CPU test suite (Criterion), the GPU script's dry run and the layer check
#   make test-gpu   build and run the GPU tests (needs nvcc and a GPU; or what `make gpu-pack` carried)
#   make gpu-pack   build the GPU programs and pack build/carry/ for a GPU machine (bench/gpu_quick.sh)
#   make bench      CPU benchmarks (bench/); bench/gpu_quick.sh is the GPU one
#   make test-sanitize  the CPU suite and every lesson's default run under ASan + UBSan
#   make fuzz       each libFuzzer target in tests/fuzz/ for FUZZ_SECONDS (clang)
#   make valgrind   every lesson's default run under valgrind memcheck
#   make format     apply .clang-format (make format-check: fail on a file it would change)
#   make werror     build everything with warnings as errors, host and device code (CI)
#   make fixtures   regenerate every test fixture from its script in tests/ (make venv: the Python
#                   packages of tests/requirements.txt in .venv/)
#   make clean      remove build/ (data/cache/ and .venv/ stay; `make distclean` removes them too)

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
# machine that lacks the CPU lessons' libraries (bench/gpu_pack.sh carries those it needs).
NV_LDLIBS := -Xlinker --as-needed $(LIBS) -lgomp -lcublas -lcublasLt
NVFLAGS ?= -O3 -arch=sm_90 -lineinfo
# CUDA_DEBUG=1: every kernel launch and cuBLAS call waits for the GPU and checks, so an error is
# reported where it happened (kernels/core/cuda_common.cuh; BERTSTEP_CUDA_SYNC=1 does the same at run
# time in any build). Build it apart: make CUDA_DEBUG=1 B=build/debug build/debug/tests/gpu_tests
ifeq ($(CUDA_DEBUG),1)
  NVFLAGS += -DBERTSTEP_CUDA_DEBUG
endif
NVFLAGS += -std=c++17 -I. -isystem /usr/include/stb -Xcompiler -Wall,-Wextra,-Wno-missing-field-initializers,-fopenmp

B := build

# WERROR=1: warnings are errors, in host C/C++ and in device code, where ptxas also reports register
# spills and local-memory use (`make werror` is the CI build; every warning it finds gets fixed).
ifdef WERROR
  CFLAGS  += -Werror
  NVFLAGS += -Werror all-warnings -Xcompiler -Werror -Xptxas -warn-spills,-warn-lmem-usage
endif

# OpenMP threads waiting at the end of a parallel region sleep instead of spinning. On a machine
# shared with other jobs, spinning threads take the cores the working threads need (lesson 11's
# default run: 4x the CPU time under load); on an idle machine sleeping costs microseconds.
export OMP_WAIT_POLICY ?= passive

# Header dependencies: every compile writes a .d file next to its object (-MMD -MP) listing the
# headers (and #included sources) it read, included at the end of this file.
DEPFLAGS := -MMD -MP

# The GPU backend's two definitions (common/train/backend.c explains): the trainer links
# kernels/backend/backend_gpu.cu with nvcc and common/train/backend_no_cuda.c without, each as an
# object of its own, so neither is in a library.
NO_CUDA_SRC := common/train/backend_no_cuda.c
COMMON_SRC := $(filter-out $(NO_CUDA_SRC),$(sort $(wildcard common/*/*.c)))
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
KERNEL_SRC := $(sort $(wildcard kernels/*/*.cu))
GPU_BACKEND_SRC := $(sort $(wildcard kernels/backend/*.cu))
KERNEL_OBJ := $(filter-out $(GPU_BACKEND_SRC:%.cu=$(B)/obj/%.o),$(KERNEL_SRC:%.cu=$(B)/obj/%.o))
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

.PHONY: all deps lessons probe data run test test-gpu gpu-pack bench clean distclean test-sanitize fuzz fuzz-deps valgrind \
        test-gpu-sanitize format format-check format-deps werror check-layers fixtures venv
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

$(B)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/libbertstep.a: $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libbertstep_cuda.a: $(KERNEL_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The trainer (lesson 16) runs its model behind common/train/backend.h. With nvcc it is linked by nvcc
# with the GPU backend (kernels/backend/*.cu, lesson 13's GpuBert in libbertstep_cuda.a); without
# nvcc it is a C program like the others, linked with common/train/backend_no_cuda.c, and
# --device cuda is refused.
BACKEND_LESSONS := $(B)/16_trainer $(B)/17_hyperparameters
CC_LESSONS := $(filter-out $(BACKEND_LESSONS),$(CPU_LESSONS))

$(CC_LESSONS): $(B)/%: $(B)/obj/lessons/%.o $(B)/libbertstep.a
	$(CC) $(CFLAGS) $< -o $@ $(B)/libbertstep.a $(LDLIBS)

ifeq ($(HAVE_NVCC),yes)
$(BACKEND_LESSONS): $(B)/%: $(B)/obj/lessons/%.o $(GPU_BACKEND_SRC:%.cu=$(B)/obj/%.o) $(B)/libbertstep_cuda.a \
                            $(B)/libbertstep.a
	$(NVCC) $(NVFLAGS) $(filter %.o,$^) -o $@ $(B)/libbertstep_cuda.a $(B)/libbertstep.a $(NV_LDLIBS)
else
$(BACKEND_LESSONS): $(B)/%: $(B)/obj/lessons/%.o $(NO_CUDA_SRC:%.c=$(B)/obj/%.o) $(B)/libbertstep.a
	$(CC) $(CFLAGS) $(filter %.o,$^) -o $@ $(B)/libbertstep.a $(LDLIBS)
endif

$(GPU_LESSONS): $(B)/%: $(B)/obj/lessons/%.o $(B)/libbertstep_cuda.a $(B)/libbertstep.a
	$(NVCC) $(NVFLAGS) $< -o $@ $(B)/libbertstep_cuda.a $(B)/libbertstep.a $(NV_LDLIBS)

# Data sets and the default checkpoint go to data/cache/ (git-ignored). A machine without
# network still builds; the lessons that need data then say how to get it.
data:
	@bash data/fetch.sh || echo "warning: data/fetch.sh failed; lessons that need data will say so"

$(B)/tests/run_tests: $(TEST_SRC:%.c=$(B)/obj/%.o) $(B)/libbertstep.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(filter %.o,$^) -o $@ $(B)/libbertstep.a $(LDLIBS) -lcriterion

# The emulated build: the product's CUDA sources (kernels/, lesson 13) as they are, compiled by the C++
# compiler with tests/emulate/cuda/ first on the include path. Its stand-ins for cuda_runtime.h,
# cublas_v2.h, cuda_bf16.h and cuda_fp16.h are tests/emulate/cuda_on_cpu.h, which runs kernels on the
# CPU and cuBLAS as the CPU sgemm: the suite checks the kernels' index arithmetic and results, the GPU
# BERT against the CPU's, and the trainer's GPU backend without a GPU or nvcc. Objects in build/emu/.
# (-Wno-unknown-pragmas: `#pragma unroll` is nvcc's.)
EMU := $(B)/emu
EMU_FLAGS := -std=c++20 -O2 -g -Wall -Wextra -Wno-missing-field-initializers -Wno-unknown-pragmas -pthread -I. \
             -Itests/emulate/cuda $(if $(WERROR),-Werror)
EMU_TEST_SRC := $(sort $(wildcard tests/emulate/test_*.cpp))
$(EMU)/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(DEPFLAGS) -x c++ -c $< -o $@
$(EMU)/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(DEPFLAGS) -c $< -o $@
$(EMU)/libbertstep_cuda.a: $(KERNEL_SRC:%.cu=$(EMU)/%.o)
	@rm -f $@
	ar rcs $@ $^

# (tests/emulate/test_trainer_emulated.cpp runs build/tests/emulated_trainer, built first.)
$(B)/tests/emulated_kernels: $(EMU_TEST_SRC:%.cpp=$(EMU)/%.o) $(EMU)/libbertstep_cuda.a $(B)/libbertstep.a \
                             | $(B)/tests/emulated_trainer
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(filter %.o,$^) -o $@ $(EMU)/libbertstep_cuda.a $(B)/libbertstep.a $(LDLIBS) -lcriterion

# Lesson 16's trainer linked with the emulated GPU backend (kernels/backend/ in build/emu's library):
# --device cuda (--bf16, --fp16) on the CPU, run by tests/emulate/test_trainer_emulated.cpp.
$(B)/tests/emulated_trainer: $(B)/obj/lessons/16_trainer.o $(EMU)/libbertstep_cuda.a $(B)/libbertstep.a
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) $(filter %.o,$^) -o $@ $(EMU)/libbertstep_cuda.a $(B)/libbertstep.a $(LDLIBS)

# The suite runs lessons as programs, so they are built (and data fetched) first; then the folder
# rules of docs/DESIGN.md are checked on every #include (check-layers).
test: lessons data $(B)/tests/run_tests $(B)/tests/emulated_kernels $(B)/tests/emulated_trainer
	$(B)/tests/run_tests --jobs 2
	$(B)/tests/emulated_kernels --jobs 2
	bash tests/gpu_quick_stub.sh
	@$(MAKE) --no-print-directory check-layers

check-layers:
	python3 scripts/check_layers.py

$(B)/tests/gpu_tests: $(GPU_TEST_SRC:%.cu=$(B)/obj/%.o) $(B)/libbertstep_cuda.a $(B)/libbertstep.a
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) $(filter %.o,$^) -o $@ $(B)/libbertstep_cuda.a $(B)/libbertstep.a $(NV_LDLIBS)

# test-gpu: the GPU tests, built here when this machine can build them (the Debian packages of
# scripts/deps.sh are installed); else, on a GPU machine that cannot (no apt, no network), the copy
# `make gpu-pack` carried in build/carry/bin runs as it is, with the libraries bench/gpu_env.sh finds.
test-gpu:
	@if [ -x $(B)/carry/bin/gpu_tests ] && ! bash scripts/deps.sh --check 2>/dev/null; then \
	    echo "test-gpu: running the carried $(B)/carry/bin/gpu_tests (this machine cannot build)"; \
	    BERTSTEP_BIN=$(B)/carry/bin bash -c '. bench/gpu_env.sh && LD_LIBRARY_PATH="$$BERTSTEP_LD" $(B)/carry/bin/gpu_tests'; \
	else \
	    $(MAKE) --no-print-directory lessons $(B)/tests/gpu_tests && $(B)/tests/gpu_tests; \
	fi

# gpu-pack: on a build machine (nvcc, no GPU needed): the GPU programs, the libraries they need and
# the trainer's data in build/carry/, at most 64 MiB with the repository (bench/gpu_pack.sh).
gpu-pack: data
	bash bench/gpu_pack.sh

# The main job: lesson 16, the trainer, on the default checkpoint and SST-2.
run: lessons data
	bash scripts/run_main.sh

# Benchmark programs: bench/NAME.c -> build/bench/NAME, run by the bench/*.sh scripts.
BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%,$(sort $(wildcard bench/*.c)))
$(BENCH_BIN): $(B)/bench/%: $(B)/obj/bench/%.o $(B)/libbertstep.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(B)/libbertstep.a $(LDLIBS)

bench: lessons data $(BENCH_BIN)
	@for b in bench/*.sh; do case $$b in bench/gpu*) ;; *) bash $$b ;; esac; done

# ---- hardening (issue 8): sanitizers and fuzzing; see tests/fuzz/RESULTS.md ----------------------
# test-sanitize: the same build in build/san with gcc's AddressSanitizer + UndefinedBehaviorSanitizer
# (any UB report aborts), then the whole CPU suite (which runs every lesson's default run and the
# bad-input suite) and every fuzz corpus and regression input replayed once. The CPU code is what
# is sanitized: the sub-build acts as if nvcc were absent (NVCC=no-nvcc), so the trainer is a C program. A lesson too slow
# under ASan gets smaller flags from tests/sanitize_flags.txt (BERTSTEP_SANITIZE tells the tests).
SAN_FLAGS := -O1 -g -march=native -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
SAN_ENV   := BERTSTEP_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 UBSAN_OPTIONS=print_stacktrace=1 \
             LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
test-sanitize: data
	$(MAKE) B=$(B)/san CFLAGS="$(CFLAGS) $(SAN_FLAGS)" NVCC=no-nvcc lessons $(B)/san/tests/run_tests $(B)/san/fuzz-replay
	@# The tests name build/... and tests/... from the repository root; build/san/root is that root
	@# with build/ pointing at the sanitized build.
	@mkdir -p $(B)/san/root && for f in $(CURDIR)/*; do [ "$${f##*/}" = build ] || ln -sfn "$$f" $(B)/san/root/; done
	@ln -sfn .. $(B)/san/root/build
	cd $(B)/san/root && $(SAN_ENV) build/tests/run_tests --jobs 2
	$(SAN_ENV) bash tests/fuzz/replay.sh $(B)/san/fuzz-replay

# werror: every program, test binary and benchmark built in build/werror with WERROR=1, and the
# fuzz targets compiled (they link only under ASan); nothing runs. CI runs it before the suite.
WERROR_BUILT = tests/run_tests tests/emulated_kernels tests/emulated_trainer $(BENCH_BIN:$(B)/%=%) \
                $(patsubst %.c,obj/%.o,$(FUZZ_SRC) tests/fuzz/fuzz.c tests/fuzz/replay.c) \
                $(if $(filter yes,$(HAVE_NVCC)),tests/gpu_tests)
werror:
	$(MAKE) B=$(B)/werror WERROR=1 lessons $(WERROR_BUILT:%=$(B)/werror/%)

# valgrind: every lesson's default run under memcheck (tests/valgrind.sh), built in build/vg without
# -march=native (valgrind does not decode AVX-512). `make valgrind VALGRIND_LESSONS="01_scalar_loop"`
# runs some; a slow lesson's default run can be left out this way.
VALGRIND_LESSONS ?=
valgrind: data
	$(MAKE) B=$(B)/vg CFLAGS="$(filter-out -march=native -O3,$(CFLAGS)) -O2" lessons
	bash tests/valgrind.sh $(B)/vg $(VALGRIND_LESSONS)

# test-gpu-sanitize: the GPU tests under compute-sanitizer's memcheck and racecheck (needs nvcc, a
# GPU and compute-sanitizer from the CUDA Toolkit). Not yet run: no GPU was available (RESULTS.md).
test-gpu-sanitize: $(B)/tests/gpu_tests
	compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 $(B)/tests/gpu_tests
	compute-sanitizer --tool racecheck --error-exitcode 1 $(B)/tests/gpu_tests

# fuzz-replay: every fuzz target linked with a plain main() that runs the files it is given
# (tests/fuzz/replay.c), so regressions and corpora run under gcc's sanitizers without clang.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
$(B)/fuzz-replay/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(B)/obj/tests/fuzz/fuzz.o $(B)/obj/tests/fuzz/replay.o $(B)/libbertstep.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(filter %.o,$^) -o $@ $(B)/libbertstep.a $(LDLIBS)
$(B)/fuzz-replay: $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz-replay/%)

# fuzz: each target for FUZZ_SECONDS with libFuzzer (clang; Debian's clang + libclang-rt-dev).
# `make fuzz-safetensors FUZZ_SECONDS=600` runs one. Crashes land in build/fuzz/crashes/. The
# library is built without -fopenmp (one thread per input); -lgomp supplies the omp_* calls.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-missing-field-initializers -I. -isystem /usr/include/stb \
                -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null || { echo "error: make fuzz needs clang with libFuzzer: apt-get install clang libclang-rt-dev" >&2; exit 1; }
$(B)/fuzz/obj/%.o: %.c | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(DEPFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(B)/fuzz/libbertstep.a: $(COMMON_SRC:%.c=$(B)/fuzz/obj/%.o) $(B)/fuzz/obj/tests/fuzz/fuzz.o
	@rm -f $@
	ar rcs $@ $^
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(B)/fuzz/libbertstep.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $< -o $@ $(B)/fuzz/libbertstep.a $(LIBS) -lgomp
.PRECIOUS: $(B)/fuzz/fuzz_%   # kept after a run, to replay or minimise a corpus with
fuzz: $(FUZZ_TARGETS:%=fuzz-%)
fuzz-%: $(B)/fuzz/fuzz_%
	bash tests/fuzz/run.sh $* $(FUZZ_SECONDS)

# format: apply .clang-format to every C, CUDA and C++ source (tokenizer_tables.h is generated by
# tests/gen_tokenizer_tables.py and left as written); format-check: fail when a file would change.
FORMAT_SRC = $(filter-out common/text/tokenizer_tables.h,$(shell git ls-files '*.c' '*.h' '*.cu' '*.cuh' '*.cpp'))
format format-check: | format-deps
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)
format-deps:
	@command -v clang-format >/dev/null || { echo "error: make format needs clang-format (14, as .clang-format says): apt-get install clang-format" >&2; exit 1; }

# ---- fixtures: every reference file under tests/fixtures/ (and common/text/tokenizer_tables.h) ----
# regenerated by its script in tests/, with the Python packages of tests/requirements.txt (`make
# venv` installs them into .venv/; PYTHON=... names another interpreter that has them). The
# scripts read data/cache/ (the vocab, the data sets, all-MiniLM-L6-v2), and gen_trainer_hf.py
# reads what gen_trainer.py writes, hence the order. Then read `git diff tests/fixtures`.
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
FIXTURE_SCRIPTS := gen_safetensors gen_metrics gen_optim gen_precision gen_schedules gen_tokenizer_tables \
                   gen_tokenizer gen_bert gen_trainer gen_trainer_hf gen_tokenizer_json gen_trainer_hf_tasks gen_shard
FIXTURE_UNLISTED := $(filter-out $(FIXTURE_SCRIPTS),$(patsubst tests/%.py,%,$(wildcard tests/gen_*.py)))
fixtures: data
	@[ -z "$(FIXTURE_UNLISTED)" ] || { echo "error: add $(FIXTURE_UNLISTED) to FIXTURE_SCRIPTS (Makefile)" >&2; exit 1; }
	@for s in $(FIXTURE_SCRIPTS); do echo "$(PYTHON) tests/$$s.py"; $(PYTHON) tests/$$s.py || exit 1; done

venv: .venv/installed
.venv/installed: tests/requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install -r tests/requirements.txt
	touch $@

clean:
	rm -rf $(B)

distclean: clean
	rm -rf data/cache .venv

# The header dependencies the compiler wrote (see DEPFLAGS).
-include $(shell find $(B) -name '*.d' 2>/dev/null)
