"""fixture.py — write reference arrays in the text format tests/fixture.h reads:
one array per line, `<key> <count> <v1> <v2> ...`, values with 17 significant digits."""


def write_fixture(path, arrays, header=""):
    with open(path, "w") as f:
        if header:
            for line in header.strip().splitlines():
                f.write(f"# {line}\n")
        for key, values in arrays.items():
            values = list(values)
            if values and isinstance(values[0], str):
                f.write(f"{key} {len(values)} {' '.join(values)}\n")
            else:
                f.write(f"{key} {len(values)} {' '.join(f'{float(v):.17g}' for v in values)}\n")
