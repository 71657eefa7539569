#!/bin/sh
# Run the example programs on tiny synthetic data and check what they
# print and write: the building blocks, a short training run, that a run
# is deterministic and that resuming from a checkpoint changes nothing,
# sampling, and the answers to bad input.
# Usage: test_programs.sh EXAMPLES_BUILD_DIR
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run NAME EXPECTED_STATUS PROGRAM ARGS...: output goes to $tmp/NAME.out.
run() {
    name=$1
    want=$2
    shift 2
    "$@" >"$tmp/$name.out" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$name: exit status $got, expected $want"
        sed 's/^/    /' "$tmp/$name.out"
        return 1
    fi
    return 0
}

# expect NAME TEXT: the output of run NAME holds the fixed string TEXT.
expect() {
    grep -qF -- "$2" "$tmp/$1.out" || fail "$1: output lacks '$2'"
}

# expect_re NAME REGEX: the same with a basic regular expression.
expect_re() {
    grep -q -- "$2" "$tmp/$1.out" || fail "$1: no line matches '$2'"
}

# is_png FILE: the file exists and starts with PNG's signature.
is_png() {
    [ "$(od -An -tx1 -N4 "$1" 2>/dev/null | tr -d ' ')" = 89504e47 ] ||
        fail "$1 is missing or not a PNG file"
}

# The building blocks.
run tensor_basics 0 "$bin/tensor_basics" &&
    expect tensor_basics "noise:   tensor [16, 100, 1, 1]" &&
    expect tensor_basics "mistake: GANET_ERR_SHAPE"

run generator_block 0 "$bin/generator_block" &&
    expect generator_block "(1-1)*1 - 2*0 + 4 + 0 = 4" &&
    expect generator_block "(4-1)*2 - 2*1 + 4 + 0 = 8" &&
    expect generator_block "Total: output [16, 256, 8, 8]" &&
    expect_re generator_block "channel 0 has mean .* and variance 1\.0" &&
    expect_re generator_block "^training  mode: .* output [1-9]" &&
    expect_re generator_block \
        "^inference mode: .* output \(0\|[0-9.]*e-0[6-9]\)$"

run discriminator_block 0 "$bin/discriminator_block" &&
    expect discriminator_block "(64 + 2*1 - 4)/2 + 1 = 32" &&
    expect discriminator_block "(32 + 2*1 - 4)/2 + 1 = 16" &&
    expect discriminator_block "LeakyReLU(negative_slope 0.2)"

run discriminator_update 0 "$bin/discriminator_update" &&
    expect_re discriminator_update "^loss_D = BCE(D(x), 1) + BCE(D(G(z)), 0)" &&
    expect discriminator_update "largest gradient in G after D's update: 0 "

# A small network on small synthetic data, so each run takes seconds.
small="--dataset synthetic --limit 256 --batch-size 16 --ngf 8 --ndf 8"
small="$small --seed 5 --threads 2"
# shellcheck disable=SC2086
{
    run dry_run 0 "$bin/dcgan_train" $small --dry-run --out "$tmp/dry" &&
        expect dry_run "seed 5, 2 threads" &&
        expect dry_run "data: synthetic, 256 images of 1x32x32" &&
        expect dry_run "model: nz 100, ngf 8, ndf 8; batch 16" &&
        expect dry_run "Total: output [16, 1, 32, 32]" &&
        expect dry_run "Total: output [16, 1, 1, 1]" &&
        expect_re dry_run "^\[1/1\]\[1/16\] Loss_D: [0-9.]* Loss_G: [0-9.]* " &&
        expect_re dry_run " D(x): [0-9.]* D(G(z)): [0-9.]* / [0-9.]* | " &&
        expect dry_run "dry run: one iteration done"

    run dry_run_64 0 "$bin/dcgan_train" $small --image-size 64 --channels 3 \
        --dry-run --out "$tmp/dry64" &&
        expect dry_run_64 "[16, 8, 32, 32] -> [16, 3, 64, 64]" &&
        expect dry_run_64 "[16, 3, 64, 64] -> [16, 8, 32, 32]"

    # Two epochs of 4 iterations, a progress line every 2.
    short="$small --epochs 2 --max-batches 4 --interval 2"
    run train 0 "$bin/dcgan_train" $short --out "$tmp/a" && {
        is_png "$tmp/a/samples_epoch_001.png"
        is_png "$tmp/a/samples_epoch_002.png"
        [ -s "$tmp/a/dcgan.ckpt" ] || fail "train wrote no dcgan.ckpt"
        [ "$(head -n 1 "$tmp/a/progress.csv")" = \
            "epoch,batch,step,loss_d,loss_g,d_x,d_g_z1,d_g_z2,images_per_s" ] ||
            fail "progress.csv has no header"
        rows=$(($(wc -l <"$tmp/a/progress.csv") - 1))
        [ "$rows" -eq 4 ] || fail "progress.csv has $rows rows, expected 4"
        expect train "wrote $tmp/a/dcgan.ckpt (epoch 2, step 8)"
    }

    # The same seed and thread count give the same bytes.
    run train_again 0 "$bin/dcgan_train" $short --out "$tmp/b" &&
        { cmp "$tmp/a/dcgan.ckpt" "$tmp/b/dcgan.ckpt" ||
            fail "two runs with the same seed differ"; }

    # One epoch, then a second from the checkpoint: the same as two.
    run train_first 0 "$bin/dcgan_train" $small --epochs 1 --max-batches 4 \
        --interval 2 --out "$tmp/c" &&
        run train_resume 0 "$bin/dcgan_train" $short --out "$tmp/c" \
            --resume "$tmp/c/dcgan.ckpt" && {
        expect train_resume "at epoch 1, step 4"
        cmp "$tmp/a/dcgan.ckpt" "$tmp/c/dcgan.ckpt" ||
            fail "a resumed run differs from an unbroken one"
        # The figures, less the images per second, match row for row.
        cut -d, -f1-8 "$tmp/a/progress.csv" >"$tmp/a.csv"
        cut -d, -f1-8 "$tmp/c/progress.csv" >"$tmp/c.csv"
        cmp "$tmp/a.csv" "$tmp/c.csv" ||
            fail "progress.csv of the resumed run differs"
    }
}

# Sampling from the checkpoint.
mkdir "$tmp/s"
run sample 0 "$bin/dcgan_sample" --checkpoint "$tmp/a/dcgan.ckpt" \
    --out "$tmp/s" --count 16 --steps 8 && {
    is_png "$tmp/s/samples.png"
    is_png "$tmp/s/interpolation.png"
    # IDX: magic 0x00000803 (unsigned bytes, 3 dims), then 16, 32, 32.
    header=$(od -An -tx1 -N16 "$tmp/s/samples.idx" | tr -d ' \n')
    [ "$header" = 00000803000000100000002000000020 ] ||
        fail "samples.idx header is $header"
    size=$(wc -c <"$tmp/s/samples.idx")
    [ "$size" -eq $((16 + 16 * 32 * 32)) ] ||
        fail "samples.idx has $size bytes, expected $((16 + 16 * 32 * 32))"
}

# A folder of images as the data: the two PNGs just written (other files
# are passed over), scaled and cropped to 32x32, gray and as RGB.
mkdir "$tmp/folder"
cp "$tmp/s/samples.png" "$tmp/s/interpolation.png" "$tmp/folder/" &&
    echo "not an image" >"$tmp/folder/notes.txt" && {
    run folder 0 "$bin/dcgan_train" --dataset folder --data "$tmp/folder" \
        --batch-size 2 --ngf 8 --ndf 8 --dry-run --out "$tmp/f" &&
        expect folder "2 images of 1x32x32" &&
        expect folder "dry run: one iteration done"
    run folder_rgb 0 "$bin/dcgan_train" --dataset folder \
        --data "$tmp/folder" --channels 3 --batch-size 2 --ngf 8 --ndf 8 \
        --dry-run --out "$tmp/f" &&
        expect folder_rgb "2 images of 3x32x32"
}
run folder_empty 1 "$bin/dcgan_train" --dataset folder --data "$tmp/f" \
    --dry-run --out "$tmp/f" &&
    expect folder_empty "no .png or .jpg file"

# Bad input: a message and a non-zero status, never a crash.
run bad_option 2 "$bin/dcgan_train" --no-such-option
run bad_option_sample 2 "$bin/dcgan_sample" --no-such-option
run bad_value 2 "$bin/dcgan_train" --batch-size many &&
    expect bad_value "bad value 'many' for --batch-size"
run bad_size 2 "$bin/dcgan_train" --image-size 48 &&
    expect bad_size "--image-size is 32 or 64"
run no_data 2 "$bin/dcgan_train" --dataset idx &&
    expect no_data "needs --data PATH"
if [ -s "$tmp/a/dcgan.ckpt" ]; then
    head -c 100 "$tmp/a/dcgan.ckpt" >"$tmp/truncated.ckpt"
    # shellcheck disable=SC2086
    run truncated_resume 1 "$bin/dcgan_train" $small --epochs 2 \
        --out "$tmp/t" --resume "$tmp/truncated.ckpt" &&
        expect truncated_resume "truncated"
    run truncated_sample 1 "$bin/dcgan_sample" \
        --checkpoint "$tmp/truncated.ckpt" --out "$tmp/s" &&
        expect truncated_sample "truncated"
fi
echo "this is not an IDX file" >"$tmp/bad.idx"
run not_idx 1 "$bin/dcgan_train" --dataset idx --data "$tmp/bad.idx" \
    --out "$tmp/t" &&
    expect not_idx "not an IDX file"

# A learning rate that blows the weights up: the guard refuses the update
# that meets a NaN, names the layer whose output went bad first, and stops
# (the default) or skips the iteration.
# shellcheck disable=SC2086
{
    run nan_stop 1 "$bin/dcgan_train" $small --lr 1e38 --max-batches 3 \
        --out "$tmp/n1" &&
        expect nan_stop "The update that met it was refused" &&
        expect_re nan_stop "first non-finite value in D: output of [0-9]* "
    run nan_skip 0 "$bin/dcgan_train" $small --lr 1e38 --max-batches 3 \
        --on-nan skip --out "$tmp/n2" &&
        expect nan_skip "health: iteration 3: "
    run nan_bad 2 "$bin/dcgan_train" --on-nan ignore
}

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
