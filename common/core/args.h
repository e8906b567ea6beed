// args.h — command-line flags, spelled as Hugging Face TrainingArguments.
// Introduced by lesson 01; every lesson and the trainer declare their flags with it, so
// `--per_device_train_batch_size 16` means the same thing in lesson 02 and lesson 16.
//
// A program lists its flags in a table. Each entry points at a variable that already
// holds the default, so `--help` shows the defaults the program really uses:
//
//     double lr = 2e-5; int steps = 10;
//     ArgSpec specs[] = {
//         {"learning_rate", ARG_FLOAT, &lr, "peak learning rate", "Optimizer"},
//         {"max_steps",     ARG_INT,   &steps, "number of optimizer steps", NULL},
//     };
//     ArgParser p = {"03_lr_schedules", "what it demonstrates...", NULL, specs, ARRAY_LEN(specs)};
//     args_parse(&p, argc, argv, NULL, 0);
//
// Accepted forms: --name value, --name=value; booleans also as a bare --name (true) or with
// true/false/1/0/yes/no. `--config FILE.json` reads the same keys from a JSON object
// first; flags on the command line then override it. Unknown flags, missing or malformed
// values and choices outside the list are one error line naming the flag.
#pragma once
#include <stdbool.h>

typedef enum {
    ARG_INT,     // int *
    ARG_FLOAT,   // double *
    ARG_BOOL,    // bool *
    ARG_STRING,  // const char ** (NULL = unset)
    ARG_CHOICE,  // const char ** restricted to `choices`, "a|b|c"
} ArgType;

typedef struct {
    const char *name;  // without the leading dashes
    ArgType type;
    void *dst;  // holds the default on entry, the parsed value on return
    const char *help;
    const char *group;    // heading in --help; NULL continues the previous entry's group
    const char *choices;  // ARG_CHOICE only: "linear|cosine|constant"
    bool set;             // filled by args_parse: given on the command line or in --config
} ArgSpec;

typedef struct {
    const char *program;      // e.g. "02_batches_epochs_steps"
    const char *summary;      // what the program demonstrates, printed by --help
    const char *positionals;  // e.g. "train|evaluate|predict", or NULL for none
    ArgSpec *specs;
    int n_specs;
} ArgParser;

// args_parse: parse argv into the specs' variables. Positional words are stored in
// `positional` (up to max_positional; more is an error). Prints help and exits 0 on
// --help / -h. Returns the number of positional words.
int args_parse(const ArgParser *p, int argc, char **argv, char **positional, int max_positional);
// args_print_help: the grouped flag list with defaults (current values), to stdout.
void args_print_help(const ArgParser *p);
// args_was_set: true when the flag was given (on the command line or in --config).
bool args_was_set(const ArgParser *p, const char *name);
