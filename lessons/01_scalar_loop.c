// placeholder, replaced by the lesson
#include <stdio.h>
#include "common/args.h"
#include "common/util.h"
int main(int argc, char **argv) {
    int steps = 3;
    ArgSpec specs[] = {{"max_steps", ARG_INT, &steps, "steps", "Run"}};
    ArgParser p = {"01_scalar_loop", "stub", NULL, specs, ARRAY_LEN(specs)};
    args_parse(&p, argc, argv, NULL, 0);
    for (int i = 0; i < steps; i++) printf("step %d took %.3f s\n", i, 0.001 * i);
    return 0;
}
