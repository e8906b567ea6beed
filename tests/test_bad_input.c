// test_bad_input.c — the bad-input suite (issue 8): every kind of broken file a trainer may be
// handed, and broken flags. Each must end the program with exactly one line "error: ..." that
// names the file (and the row or tensor), exit status 1, and no crash. Loaders run in a forked
// child so the test can read what die() printed.
//
// A parser added later adds its cases here the same way: write the bad file,
// expect_error(loader, path, "what the line must say").
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/core/args.h"
#include "common/model/bert.h"
#include "common/model/bert_io.h"
#include "common/train/checkpoint.h"
#include "common/text/dataset.h"
#include "common/model/safetensors.h"
#include "common/text/tokenizer.h"
#include "common/core/util.h"
#include "tests/expect_error.h"

// ---- running a loader in a child (tests/expect_error.h) ---------------------------------------
typedef void (*Loader)(const char *path);

static ChildOutcome run_loader(Loader load, const char *path) {
    int err_fd;
    pid_t pid = child_run_begin(&err_fd);
    if (pid == 0) {
        load(path);
        _exit(0);
    }
    return child_run_end(pid, err_fd);
}

// expect_error: load(path) exits 1 with one line "error: ...\n" naming the file and holding `want`.
static void expect_error(Loader load, const char *path, const char *want) {
    ChildOutcome o = run_loader(load, path);
    expect_one_error_line(&o, path, want);
    cr_expect(strstr(o.err, path), "%s: the error does not name the file: %s", path, o.err);
}

// expect_clean: load(path) either succeeds or fails with one error line; never a crash.
static void expect_clean(Loader load, const char *path, const char *what) {
    ChildOutcome o = run_loader(load, path);
    cr_expect(o.status == 0 || (o.status == 1 && !strncmp(o.err, "error: ", 7) && strchr(o.err, '\n')[1] == '\0'),
              "%s: status %d: %s", what, o.status, o.err);
}

// ---- files ----------------------------------------------------------------------------------------
static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/bertstep-bad-%d", (int)getpid());
    rm_rf(dir);
    mkdir_p(dir);
}

static void remove_dir(void) { rm_rf(dir); }

// write_bytes: a file in the test directory; returns its path (static buffer per call site).
static const char *write_bytes(const char *name, const void *bytes, size_t n) {
    static char path[8][160];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 160, "%s/%s", dir, name);
    FILE *f = xfopen(p, "wb");
    xfwrite(bytes, 1, n, f, p);
    xfclose(f, p);
    return p;
}

static const char *write_text(const char *name, const char *text) { return write_bytes(name, text, strlen(text)); }

// write_st: a safetensors file from a header and `data_len` bytes of data (a ramp).
static const char *write_st(const char *name, const char *header, size_t data_len) {
    size_t hn = strlen(header), n = 8 + hn + data_len;
    unsigned char *b = xcalloc(n, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(b + 8, header, hn);
    for (size_t i = 0; i < data_len; i++) b[8 + hn + i] = (unsigned char)i;
    const char *p = write_bytes(name, b, n);
    free(b);
    return p;
}

// ---- loaders --------------------------------------------------------------------------------------
static void load_safetensors(const char *path) {
    SafeTensors st = st_open(path);
    for (int i = 0; i < st.n; i++) {
        float *x = xmalloc(sizeof(float) * (size_t)st.tensors[i].numel);
        st_read_f32(&st, &st.tensors[i], x, st.tensors[i].numel);
        free(x);
    }
    st_close(&st);
}

static void load_tsv_or_csv(const char *path) {
    DatasetOptions o = dataset_default_options();
    TextDataset d = dataset_load(path, &o);
    dataset_free(&d);
}

// A dev file is read with the training file's labels {neg, pos}.
static void load_with_labels(const char *path) {
    char *names[] = {"neg", "pos"};
    LabelSet labels = {2, names};
    DatasetOptions o = dataset_default_options();
    o.labels = &labels;
    TextDataset d = dataset_load(path, &o);
    dataset_free(&d);
}

static void load_trainer_state(const char *path) {
    TrainerState s;
    trainer_state_init(&s);
    trainer_state_read(path, &s);
    trainer_state_free(&s);
}

// The parameters a checkpoint must hold: one (3, 2) weight.
static void load_checkpoint_3x2(const char *path) {
    ParamSet ps = {0};
    params_add(&ps, "layer.weight", 2, (int[]){3, 2});
    params_alloc(&ps);
    checkpoint_load(path, &ps, NULL, NULL);
    params_free(&ps);
}

// ---- safetensors ----------------------------------------------------------------------------------
static const char *GOOD_HEADER =
    "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}";

Test(bad_safetensors, truncated_at_every_byte, .init = make_dir, .fini = remove_dir) {
    const char *good = write_st("good.safetensors", GOOD_HEADER, 32);
    size_t n;
    char *bytes = read_file(good, &n);
    expect_clean(load_safetensors, good, "the intact file");
    cr_assert_eq(run_loader(load_safetensors, good).status, 0, "the intact file must load");
    for (size_t len = 0; len < n; len++) {
        const char *p = write_bytes("cut.safetensors", bytes, len);
        expect_error(load_safetensors, p,
                     len < 8                             ? "too short"
                         : len < 8 + strlen(GOOD_HEADER) ? "header length"
                                                         : ": tensor ");
    }
    free(bytes);
}

Test(bad_safetensors, every_bit_flipped, .init = make_dir, .fini = remove_dir) {
    const char *good = write_st("good.safetensors", GOOD_HEADER, 32);
    size_t n;
    unsigned char *bytes = (unsigned char *)read_file(good, &n);
    for (size_t bit = 0; bit < 8 * n; bit++) {
        bytes[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        char what[64];
        snprintf(what, sizeof what, "bit %zu flipped", bit);
        expect_clean(load_safetensors, write_bytes("flip.safetensors", bytes, n), what);
        bytes[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    free(bytes);
}

Test(bad_safetensors, header_length_past_the_file, .init = make_dir, .fini = remove_dir) {
    unsigned char b[64] = {0};
    b[0] = 200;  // 200-byte header in a 64-byte file
    expect_error(load_safetensors, write_bytes("long.safetensors", b, sizeof b), "runs past the end");
    memset(b, 0xff, 8);  // 2^64 - 1
    expect_error(load_safetensors, write_bytes("huge.safetensors", b, sizeof b), "over the");
}

Test(bad_safetensors, header_errors_name_the_tensor, .init = make_dir, .fini = remove_dir) {
    static const struct {
        const char *header;
        size_t data;
        const char *want;
    } cases[] = {
        {"not json at all", 0, "not a JSON object"},
        {"[1, 2, 3]", 0, "not a JSON object"},
        {"{\"w\": 5}", 0, "tensor w: header entry is not an object"},
        {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor w: header entry needs dtype"},
        {"{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
         "tensor w: unsupported dtype F8_E4M3"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "tensor w: dimension 0"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, "tensor w: dimension 0"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "tensor w: 9 dimensions"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000,1000000],\"data_offsets\":[0,4]}}", 4,
         "tensor w: shape is larger"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,64]}}", 8,
         "tensor w: data_offsets must be two whole numbers"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,0]}}", 8,
         "tensor w: data_offsets must be two whole numbers"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,6]}}", 8,
         "tensor w: byte range 0..6 holds 6 bytes"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8.5]}}", 12, "tensor w: data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "tensor b overlaps tensor a"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        expect_error(load_safetensors, write_st("case.safetensors", cases[i].header, cases[i].data), cases[i].want);
}

// A checkpoint whose tensor has another shape than the model's: one line naming the tensor.
Test(bad_safetensors, shape_disagrees_with_the_model, .init = make_dir, .fini = remove_dir) {
    char ck[128];
    snprintf(ck, sizeof ck, "%s/checkpoint-1", dir);
    mkdir_p(ck);
    snprintf(ck, sizeof ck, "%s/checkpoint-1/model.safetensors", dir);
    const char *hdr = "{\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    const char *p = write_st("checkpoint-1/model.safetensors", hdr, 16);
    (void)p;
    snprintf(ck, sizeof ck, "%s/checkpoint-1", dir);
    ChildOutcome o = run_loader(load_checkpoint_3x2, ck);
    expect_one_error_line(&o, ck, "model.safetensors: tensor layer.weight has 4 values, expected 6");
}

// ---- trainer_state.json ---------------------------------------------------------------------------
Test(bad_trainer_state, malformed, .init = make_dir, .fini = remove_dir) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "not valid JSON"},
        {"{\"global_step\": 3", "not valid JSON"},
        {"[]", "missing or malformed"},
        {"{\"global_step\": \"3\", \"epoch\": 1, \"optimizer_step\": 3, \"rng_state\": {}, \"log_history\": []}",
         "missing or malformed"},
        {"{\"global_step\": 3, \"epoch\": 1, \"optimizer_step\": 3, \"rng_state\": {\"state\": \"zz\", \"inc\": "
         "\"1\"}, \"log_history\": []}",
         "rng_state"},
        {"{\"global_step\": -3, \"epoch\": 1, \"optimizer_step\": 3, \"rng_state\": {\"state\": \"1\", \"inc\": "
         "\"1\"}, \"log_history\": []}",
         "global_step"},
        {"{\"global_step\": 1e300, \"epoch\": 1, \"optimizer_step\": 3, \"rng_state\": {\"state\": \"1\", \"inc\": "
         "\"1\"}, \"log_history\": []}",
         "global_step"},
        {"{\"global_step\": 3, \"epoch\": 1, \"optimizer_step\": 2.5, \"rng_state\": {\"state\": \"1\", \"inc\": "
         "\"1\"}, \"log_history\": []}",
         "optimizer_step"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        expect_error(load_trainer_state, write_text("trainer_state.json", cases[i].text), cases[i].want);
}

// ---- TSV / CSV --------------------------------------------------------------------------------------
Test(bad_dataset, rows_and_labels, .init = make_dir, .fini = remove_dir) {
    static const struct {
        const char *name, *text, *want;
    } cases[] = {
        {"empty.tsv", "", "no examples"},
        {"header_only.tsv", "sentence\tlabel\n", "no examples"},
        {"ragged.tsv", "sentence\tlabel\ngood\t1\nstray\ttab\t0\n", ":3: 3 fields, but the header has 2"},
        {"short.tsv", "sentence\tlabel\ngood\t1\nno label\n", ":3: 1 fields"},
        {"empty_text.tsv", "sentence\tlabel\ngood\t1\n\t0\n", ":3: empty text"},
        {"empty_label.tsv", "sentence\tlabel\ngood\t1\nbad\t\n", ":3: empty label"},
        {"no_column.tsv", "text\tlabel\ngood\t1\n", "no text column 'sentence' (columns: text, label)"},
        {"utf8.tsv", "sentence\tlabel\ngood\t1\nbad \xff\xfe bytes\t0\n", ":3: invalid UTF-8"},
        {"overlong.tsv", "sentence\tlabel\ngood\t1\nbad \xc0\xaf\t0\n", ":3: invalid UTF-8"},
        {"huge_label.tsv", "sentence\tlabel\ngood\t1\nbad\t2147483648\n", "too large"},
        {"ragged.csv", "sentence,label\ngood,1\n\"a, b\",0,extra\n", ":3: 3 fields"},
        {"quote.csv", "sentence,label\ngood,1\n\"never closed,0\n", "malformed CSV"},
        {"stray_quote.csv", "sentence,label\ngood,1\nbad \"quote\" here,0\n", ":3: malformed CSV"},
        {"utf8.csv", "sentence,label\n\"\xe2\x82\",1\n", ":2: invalid UTF-8"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        expect_error(load_tsv_or_csv, write_text(cases[i].name, cases[i].text), cases[i].want);
    expect_error(load_with_labels, write_text("dev.tsv", "sentence\tlabel\nfine\tpos\nhmm\tneutral\n"),
                 ":3: label 'neutral' is not one of the known labels (neg, pos)");
}

// CRLF line ends are read as LF ones: no '\r' stays in a text or a label.
static void load_crlf_and_check(const char *path) {
    DatasetOptions o = dataset_default_options();
    TextDataset d = dataset_load(path, &o);
    if (d.n != 2 || d.labels.n != 2 || strcmp(d.text[1], "bad, really") || strchr(d.labels.names[1], '\r')) _exit(2);
    dataset_free(&d);
}

Test(bad_dataset, crlf_line_ends_load, .init = make_dir, .fini = remove_dir) {
    cr_expect_eq(
        run_loader(load_crlf_and_check, write_text("crlf.tsv", "sentence\tlabel\r\ngreat\tpos\r\nbad, really\tneg\r\n"))
            .status,
        0);
    cr_expect_eq(run_loader(load_crlf_and_check,
                            write_text("crlf.csv", "sentence,label\r\ngreat,pos\r\n\"bad, really\",neg\r\n"))
                     .status,
                 0);
}

// A 10 MB line: as one example it loads whole; with no newline at all it is a header and no data.
static void load_long_and_check(const char *path) {
    DatasetOptions o = dataset_default_options();
    TextDataset d = dataset_load(path, &o);
    if (d.n != 1 || strlen(d.text[0]) != 10u << 20) _exit(2);
    dataset_free(&d);
}

Test(bad_dataset, ten_megabyte_line, .init = make_dir, .fini = remove_dir) {
    size_t n = 10u << 20;
    char *text = xmalloc(n + 64);
    int k = sprintf(text, "sentence\tlabel\n");
    memset(text + k, 'a', n);
    strcpy(text + k + n, "\t1\n");
    cr_expect_eq(run_loader(load_long_and_check, write_text("long.tsv", text)).status, 0);
    expect_error(load_tsv_or_csv, write_bytes("oneline.tsv", text + k, n), "no examples");
    free(text);
}

// ---- vocab.txt ----------------------------------------------------------------------------------
static void load_vocab(const char *path) { tokenizer_free(tokenizer_load(path, NULL)); }

Test(bad_vocab, empty_missing_specials_and_bad_lines, .init = make_dir, .fini = remove_dir) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "empty vocab"},
        {"the\nof\n[CLS]\n[SEP]\n[PAD]\n", "the vocab has no [UNK] token"},
        {"[UNK]\n[SEP]\n[PAD]\n", "the vocab has no [CLS] token"},
        {"[UNK]\n[CLS]\n[PAD]\n", "the vocab has no [SEP] token"},
        {"[UNK]\n[CLS]\n[SEP]\n", "the vocab has no [PAD] token"},
        {"[PAD]\n[UNK]\n[CLS]\n[SEP]\ncaf\xc3\n", ":5: invalid UTF-8"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        expect_error(load_vocab, write_text("vocab.txt", cases[i].text), cases[i].want);
}

// Duplicate tokens are legal (transformers keeps the last id); the vocab size still counts lines.
static void load_duplicates_and_check(const char *path) {
    Tokenizer *t = tokenizer_load(path, NULL);
    if (t->vocab_size != 6 || tokenizer_id(t, "the") != 5) _exit(2);
    tokenizer_free(t);
}

Test(bad_vocab, duplicate_tokens_keep_the_last_id, .init = make_dir, .fini = remove_dir) {
    cr_expect_eq(
        run_loader(load_duplicates_and_check, write_text("vocab.txt", "[PAD]\nthe\n[UNK]\n[CLS]\n[SEP]\nthe\n")).status,
        0);
}

// ---- config.json ---------------------------------------------------------------------------------
static void load_bert_config(const char *path) {
    char d[256];
    snprintf(d, sizeof d, "%s", path);
    *strrchr(d, '/') = '\0';
    BertConfig c = bert_config_load(d, 0);
    bert_config_free(&c);
}

#define SIZES "\"vocab_size\": 50, \"num_hidden_layers\": 2, \"intermediate_size\": 128"

Test(bad_config, missing_and_absurd_sizes, .init = make_dir, .fini = remove_dir) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{" SIZES ", \"num_attention_heads\": 4}", "key \"hidden_size\" is missing"},
        {"{" SIZES ", \"hidden_size\": -64, \"num_attention_heads\": 4}", "\"hidden_size\" must be a positive integer"},
        {"{" SIZES ", \"hidden_size\": 1e12, \"num_attention_heads\": 4}",
         "\"hidden_size\" must be a positive integer"},
        {"{" SIZES ", \"hidden_size\": 64.5, \"num_attention_heads\": 4}",
         "\"hidden_size\" must be a positive integer"},
        {"{" SIZES ", \"hidden_size\": \"64\", \"num_attention_heads\": 4}", "\"hidden_size\" must be a number"},
        {"{" SIZES ", \"hidden_size\": 64, \"num_attention_heads\": 6}",
         "hidden_size 64 is not a multiple of num_attention_heads 6"},
        {"{" SIZES ", \"hidden_size\": 64, \"num_attention_heads\": 0}",
         "\"num_attention_heads\" must be a positive integer"},
        {"{" SIZES ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"hidden_act\": \"relu\"}",
         "\"hidden_act\" must be \"gelu\""},
        {"{" SIZES ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"hidden_dropout_prob\": 1.5}",
         "must be in [0, 1)"},
    };
    mkdir_p(dir);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        expect_error(load_bert_config, write_text("config.json", cases[i].text), cases[i].want);
}

// A checkpoint whose tensors disagree with its config.json: one line naming file and tensor.
static void load_bert_dir(const char *dir_path) {
    BertModel m = bert_load(dir_path, 0, 1, NULL);
    bert_free(&m);
}

Test(bad_config, shapes_disagree_with_config, .init = make_dir, .fini = remove_dir) {
    size_t n;
    char *st = read_file("tests/fixtures/bert/tiny/model.safetensors", &n),
         *cfg = read_file("tests/fixtures/bert/tiny/config.json", NULL);
    char *at = strstr(cfg, "\"intermediate_size\": 128");
    cr_assert(at, "the tiny config changed");
    memcpy(at, "\"intermediate_size\": 256", strlen("\"intermediate_size\": 256"));
    write_bytes("model.safetensors", st, n);
    write_text("config.json", cfg);
    ChildOutcome o = run_loader(load_bert_dir, dir);
    expect_one_error_line(&o, dir, "config.json says");
    cr_expect(strstr(o.err, "model.safetensors: tensor "), "%s", o.err);
    free(st);
    free(cfg);
}

// ---- flags ---------------------------------------------------------------------------------------
static const char *flag_argv[4];

static void parse_flags(const char *unused) {
    (void)unused;
    int batch = 8;
    double lr = 1e-3;
    bool fp16 = false;
    const char *sched = "linear";
    ArgSpec specs[] = {
        {"per_device_train_batch_size", ARG_INT, &batch, "batch", "Training"},
        {"learning_rate", ARG_FLOAT, &lr, "lr", NULL},
        {"fp16", ARG_BOOL, &fp16, "fp16", NULL},
        {"lr_scheduler_type", ARG_CHOICE, &sched, "schedule", NULL, "linear|cosine"},
    };
    ArgParser p = {"bad_flags", "test", NULL, specs, ARRAY_LEN(specs)};
    int argc = 1;
    while (argc < 4 && flag_argv[argc]) argc++;
    args_parse(&p, argc, (char **)flag_argv, NULL, 0);
}

static void expect_flag_error(const char *flag, const char *value, const char *want) {
    flag_argv[0] = "bad_flags";
    flag_argv[1] = flag;
    flag_argv[2] = value;
    flag_argv[3] = NULL;
    ChildOutcome o = run_loader(parse_flags, NULL);
    char what[256];
    snprintf(what, sizeof what, "%s %s", flag, value ? value : "");
    expect_one_error_line(&o, what, want);
}

Test(bad_flags, out_of_range_and_malformed, .init = make_dir, .fini = remove_dir) {
    expect_flag_error("--per_device_train_batch_size", "99999999999",
                      "--per_device_train_batch_size: 99999999999 is out of range");
    expect_flag_error("--per_device_train_batch_size", "8x", "is not an integer");
    expect_flag_error("--per_device_train_batch_size", NULL, "needs a value");
    expect_flag_error("--learning_rate", "nan", "--learning_rate: 'nan' is not a finite number");
    expect_flag_error("--learning_rate", "-inf", "is not a finite number");
    expect_flag_error("--learning_rate", "1e999", "is not a number");
    expect_flag_error("--fp16", "maybe", "unexpected argument 'maybe'");
    expect_flag_error("--fp16=maybe", NULL, "'maybe' is not true or false");
    expect_flag_error("--lr_scheduler_type", "cosine_with_restarts", "is not one of linear|cosine");
    expect_flag_error("--per_device_eval_batch_size", "8", "unknown flag --per_device_eval_batch_size");
    static char config[160];
    snprintf(config, sizeof config, "%s/c.json", dir);
    write_text("c.json", "{\"learning_rate\": 1e-3, \"num_train_epochs\": 3}");
    expect_flag_error("--config", config, "unknown key \"num_train_epochs\"");
    write_text("c.json", "{\"per_device_train_batch_size\": 1e12}");
    expect_flag_error("--config", config, "out of range");
    write_text("c.json", "{\"per_device_train_batch_size\": 2.5}");
    expect_flag_error("--config", config, "is not an integer");
    write_text("c.json", "{\"learning_rate\": [1]}");
    expect_flag_error("--config", config, "must be a string, number or boolean");
    write_text("c.json", "{\"learning_rate\": ");
    expect_flag_error("--config", config, "not a JSON object");
}

// Lessons check their own ranges on top of the parser's: a few, run as the programs.
Test(bad_flags, lessons_reject_out_of_range_values) {
    static const struct {
        const char *cmd, *want;
    } cases[] = {
        {"build/02_batches_epochs_steps --per_device_train_batch_size 0",
         "--per_device_train_batch_size must be at least 1"},
        {"build/06_evaluation_and_checkpoints --num_train_epochs -1", "--num_train_epochs must be positive"},
        {"build/06_evaluation_and_checkpoints --learning_rate nan", "'nan' is not a finite number"},
        {"build/06_evaluation_and_checkpoints --train_file /nonexistent/train.tsv", "/nonexistent/train.tsv"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char cmd[512], line[1024] = "";
        snprintf(cmd, sizeof cmd, "%s 2>&1 >/dev/null", cases[i].cmd);
        FILE *p = popen(cmd, "r");
        int lines = 0;
        char buf[1024];
        while (fgets(buf, sizeof buf, p))
            if (!strncmp(buf, "error: ", 7)) {
                lines++;
                snprintf(line, sizeof line, "%s", buf);
            }
        int st = pclose(p);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s: exit status %d", cases[i].cmd, st);
        cr_expect(lines == 1 && strstr(line, cases[i].want), "%s: expected one error line with '%s', got %d: %s",
                  cases[i].cmd, cases[i].want, lines, line);
    }
}
