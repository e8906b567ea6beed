// args.c — see args.h.
#include "common/core/args.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/core/util.h"

static ArgSpec *find_spec(const ArgParser *p, const char *name, size_t len) {
    for (int i = 0; i < p->n_specs; i++)
        if (strlen(p->specs[i].name) == len && !strncmp(p->specs[i].name, name, len)) return &p->specs[i];
    return NULL;
}

static bool choice_allowed(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && !strncmp(c, v, n)) return true;
        if (!bar) break;
        c = bar + 1;
    }
    return false;
}

static int parse_bool_word(const char *v) {  // 1 true, 0 false, -1 not a boolean word
    static const char *yes[] = {"true", "True", "1", "yes"}, *no[] = {"false", "False", "0", "no"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++)
        if (!strcmp(v, yes[i])) return 1;
    for (size_t i = 0; i < ARRAY_LEN(no); i++)
        if (!strcmp(v, no[i])) return 0;
    return -1;
}

// set_from_string: store the text value `v` into the spec's variable, validating it.
static void set_from_string(ArgSpec *s, const char *v) {
    char what[128];
    snprintf(what, sizeof what, "--%s", s->name);
    switch (s->type) {
    case ARG_INT: {
        long x = parse_long(v, what);
        if (x < -2147483647L || x > 2147483647L) die("%s: %s is out of range", what, v);
        *(int *)s->dst = (int)x;
        break;
    }
    case ARG_FLOAT: {
        double x = parse_double(v, what);
        if (!isfinite(x)) die("%s: '%s' is not a finite number", what, v);
        *(double *)s->dst = x;
        break;
    }
    case ARG_BOOL: {
        int b = parse_bool_word(v);
        if (b < 0) die("%s: '%s' is not true or false", what, v);
        *(bool *)s->dst = b;
        break;
    }
    case ARG_CHOICE:
        if (!choice_allowed(s->choices, v)) die("%s: '%s' is not one of %s", what, v, s->choices);
        *(const char **)s->dst = v;
        break;
    case ARG_STRING: *(const char **)s->dst = v; break;
    }
    s->set = true;
}

// The parsed --config and the text of its numbers live as long as the program: string flags
// point into them. Global rather than static, so no compiler drops the stores and a leak checker
// sees them as reachable, not lost.
cJSON *args_config_root, *args_config_numbers;

// load_config: apply a JSON object's keys as if they were flags.
static void load_config(const ArgParser *p, const char *path) {
    char *text = read_file(path, NULL);
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) die("--config %s: not a JSON object", path);
    args_config_root = root;
    args_config_numbers = cJSON_CreateArray();
    for (cJSON *it = root->child; it; it = it->next) {
        ArgSpec *s = find_spec(p, it->string, strlen(it->string));
        if (!s) die("--config %s: unknown key \"%s\" (see --help)", path, it->string);
        char buf[64];
        const char *v = NULL;
        if (cJSON_IsString(it)) v = it->valuestring;
        else if (cJSON_IsBool(it)) v = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) {
            snprintf(buf, sizeof buf, "%.17g", it->valuedouble);  // 2.5 for an integer flag stays an error
            cJSON *kept = cJSON_CreateString(buf);
            cJSON_AddItemToArray(args_config_numbers, kept);
            v = kept->valuestring;
        } else die("--config %s: key \"%s\" must be a string, number or boolean", path, it->string);
        set_from_string(s, v);
    }
    free(text);
}

int args_parse(const ArgParser *p, int argc, char **argv, char **positional, int max_positional) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            args_print_help(p);
            exit(0);
        }
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config")) load_config(p, argv[i + 1]);

    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (n_pos >= max_positional)
                die("unexpected argument '%s' (flags start with --; see %s --help)", a, p->program);
            positional[n_pos++] = argv[i];
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 6 && !strncmp(name, "config", 6)) {
            i += eq ? 0 : 1;
            continue;
        }  // handled above
        ArgSpec *s = find_spec(p, name, len);
        if (!s) die("unknown flag --%.*s (see %s --help)", (int)len, name, p->program);
        const char *v = eq ? eq + 1 : NULL;
        if (!v && s->type == ARG_BOOL) {
            // A bare boolean flag means true; a following true/false word is its value.
            if (i + 1 < argc && parse_bool_word(argv[i + 1]) >= 0) v = argv[++i];
            else v = "true";
        }
        if (!v) {
            if (i + 1 >= argc) die("flag --%s needs a value (see %s --help)", s->name, p->program);
            v = argv[++i];
        }
        set_from_string(s, v);
    }
    return n_pos;
}

bool args_was_set(const ArgParser *p, const char *name) {
    ArgSpec *s = find_spec(p, name, strlen(name));
    if (!s) die("args_was_set: %s is not a flag of %s", name, p->program);
    return s->set;
}

static void format_default(const ArgSpec *s, char *buf, size_t n) {
    switch (s->type) {
    case ARG_INT: snprintf(buf, n, "%d", *(int *)s->dst); break;
    case ARG_FLOAT: snprintf(buf, n, "%g", *(double *)s->dst); break;
    case ARG_BOOL: snprintf(buf, n, "%s", *(bool *)s->dst ? "true" : "false"); break;
    case ARG_STRING:
    case ARG_CHOICE: {
        const char *v = *(const char **)s->dst;
        snprintf(buf, n, "%s", v ? v : "none");
        break;
    }
    }
}

static const char *metavar(const ArgSpec *s) {
    switch (s->type) {
    case ARG_INT: return "N";
    case ARG_FLOAT: return "X";
    case ARG_BOOL: return "[BOOL]";
    case ARG_STRING: return "S";
    case ARG_CHOICE: return s->choices;
    }
    return "";
}

void args_print_help(const ArgParser *p) {
    printf("usage: %s%s%s [flags]\n\n%s\n", p->program, p->positionals ? " " : "", p->positionals ? p->positionals : "",
           p->summary);
    const char *group = NULL;
    for (int i = 0; i < p->n_specs; i++) {
        const ArgSpec *s = &p->specs[i];
        if (s->group && (!group || strcmp(s->group, group))) {
            group = s->group;
            printf("\n%s:\n", group);
        } else if (i == 0) {
            printf("\nflags:\n");
        }
        char flag[160], def[96];
        snprintf(flag, sizeof flag, "--%s %s", s->name, metavar(s));
        format_default(s, def, sizeof def);
        printf("  %-40s %s (default: %s)\n", flag, s->help, def);
    }
    printf("\n  %-40s %s\n  %-40s %s\n", "--config FILE.json", "read flags from a JSON object first", "-h, --help",
           "show this help and exit");
}
