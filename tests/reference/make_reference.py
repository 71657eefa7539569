#!/usr/bin/python3
"""Generate the PyTorch reference data used by the libganet tests.

The C tests compare libganet's layers, losses and optimisers against
numbers computed by PyTorch.  The tests must not need PyTorch, so this
script is run by hand and its output is committed.  It writes:

    <out>/layers/<case>.gref    one layer (conv2d, convt2d, batchnorm2d,
                                relu, leakyrelu, tanh, sigmoid): forward
                                and backward for one set of options
    <out>/losses/<case>.gref    one loss (BCELoss, BCEWithLogitsLoss,
                                MSELoss): value and gradient
    <out>/optim/<case>.gref     20 training steps of a small net with one
                                optimiser (Adam or SGD) configuration
    <out>/dcgan_step.gref       one full DC-GAN training iteration

File format (".gref", all little-endian):

    8 bytes   magic "GANETREF"
    u32       format version (1)
    u32       number of entries
    per entry:
      u32     name length, then the name (ASCII, no NUL terminator)
      u32     rank (0..5)
      int64   rank dims
      float32 prod(dims) values, row-major (a rank-0 entry holds 1 value)

The entry names of each kind of file are listed in tests/data/README.md
and next to the functions below.  tests/ref_data.c reads these files.

Run it with Debian's Python, which has PyTorch (1.13 when this was
written), from the top of the repository:

    /usr/bin/python3 tests/reference/make_reference.py [--out DIR]

DIR defaults to tests/data.  The output is deterministic: every case
seeds torch with a value derived from its name, computations run in
float32 on one thread, and files hold no timestamps, so running the
script twice gives byte-identical files.
"""

import argparse
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn

MAGIC = b"GANETREF"
VERSION = 1
MAX_RANK = 5


# ---------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------

class RefFile:
    """An ordered list of named float32 tensors, saved as one .gref file."""

    def __init__(self):
        self.entries = []
        self.names = set()

    def add(self, name, value):
        """Add a tensor, a Python number (rank 0) or a list (rank 1)."""
        if name in self.names:
            raise ValueError("duplicate entry name %r" % name)
        if not name or not name.isascii() or "\0" in name:
            raise ValueError("bad entry name %r" % name)
        if isinstance(value, torch.Tensor):
            # Copy now: .numpy() shares memory with the tensor, and
            # parameters and running stats change in place later on.
            value = value.detach().cpu().to(torch.float32)
            arr = np.array(value.numpy(), dtype=np.float32, copy=True)
        else:
            arr = np.array(value, dtype=np.float32, copy=True)
        if arr.ndim > MAX_RANK:
            raise ValueError("%s: rank %d > %d" % (name, arr.ndim, MAX_RANK))
        self.names.add(name)
        self.entries.append((name, arr))

    def write(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        out = [MAGIC, struct.pack("<II", VERSION, len(self.entries))]
        for name, arr in self.entries:
            raw = name.encode("ascii")
            out.append(struct.pack("<I", len(raw)))
            out.append(raw)
            out.append(struct.pack("<I", arr.ndim))
            out.append(struct.pack("<%dq" % arr.ndim, *arr.shape))
            # '<f4' pins the byte order whatever the host is.
            out.append(np.ascontiguousarray(arr, dtype="<f4").tobytes())
        with open(path, "wb") as fh:
            fh.write(b"".join(out))


def seed_for(name):
    """A fixed seed per case, stable when cases are added or reordered."""
    seed = zlib.crc32(name.encode("ascii")) & 0x7FFFFFFF
    torch.manual_seed(seed)
    return seed


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------
#
# conv2d / convt2d entries: options, src, weight, [bias], dst, diff_dst,
# diff_src, diff_weight, [diff_bias].  Weights use PyTorch's layout:
# Conv2d OIHW, ConvTranspose2d (C_in, C_out, kH, kW).

def conv_case(out, name, n, cin, cout, hw, k, s=1, p=0, d=1, bias=True,
              transpose=False, op=0):
    """Forward + backward of one Conv2d or ConvTranspose2d."""
    seed_for(name)
    k, s, p, d, op = pair(k), pair(s), pair(p), pair(d), pair(op)
    h, w = pair(hw)
    if transpose:
        layer = nn.ConvTranspose2d(cin, cout, k, s, p, output_padding=op,
                                   bias=bias, dilation=d)
        options = [cin, cout, *k, *s, *p, *d, *op, int(bias)]
    else:
        layer = nn.Conv2d(cin, cout, k, s, p, dilation=d, bias=bias)
        options = [cin, cout, *k, *s, *p, *d, int(bias)]
    src = torch.randn(n, cin, h, w, requires_grad=True)
    dst = layer(src)
    diff_dst = torch.randn_like(dst)
    dst.backward(diff_dst)

    ref = RefFile()
    ref.add("options", options)
    ref.add("src", src)
    ref.add("weight", layer.weight)
    if bias:
        ref.add("bias", layer.bias)
    ref.add("dst", dst)
    ref.add("diff_dst", diff_dst)
    ref.add("diff_src", src.grad)
    ref.add("diff_weight", layer.weight.grad)
    if bias:
        ref.add("diff_bias", layer.bias.grad)
    ref.write(os.path.join(out, "layers", name + ".gref"))


def batchnorm_case(out, name, n, c, hw, eps=1e-5, momentum=0.1,
                   affine=True, steps=3):
    """BatchNorm2d: `steps` training steps then one inference pass.

    Entries: options [C, eps, momentum, affine, steps]; weight, bias (if
    affine); running_mean.init, running_var.init; per step k: src.k,
    dst.k, diff_dst.k, diff_src.k, diff_weight.k, diff_bias.k (if
    affine), running_mean.k, running_var.k; then eval.src, eval.dst,
    eval.diff_dst, eval.diff_src.

    PyTorch's running update is running = (1 - momentum) * running +
    momentum * batch_stat, where the variance fed to running_var is the
    unbiased one (divided by N*H*W - 1) while the normalisation itself
    uses the biased one (divided by N*H*W).
    """
    seed_for(name)
    h, w = pair(hw)
    bn = nn.BatchNorm2d(c, eps=eps, momentum=momentum, affine=affine)
    ref = RefFile()
    ref.add("options", [c, eps, momentum, int(affine), steps])
    if affine:
        # Default init (1, 0) would hide a swapped or ignored weight/bias.
        with torch.no_grad():
            bn.weight.copy_(1 + 0.1 * torch.randn(c))
            bn.bias.copy_(0.1 * torch.randn(c))
        ref.add("weight", bn.weight)
        ref.add("bias", bn.bias)
    ref.add("running_mean.init", bn.running_mean)
    ref.add("running_var.init", bn.running_var)

    bn.train()
    for k in range(steps):
        bn.zero_grad()
        # A shifted, scaled src so that mean 0 / var 1 is not a no-op.
        src = (0.5 + 2.0 * torch.randn(n, c, h, w)).requires_grad_(True)
        dst = bn(src)
        diff_dst = torch.randn_like(dst)
        dst.backward(diff_dst)
        ref.add("src.%d" % k, src)
        ref.add("dst.%d" % k, dst)
        ref.add("diff_dst.%d" % k, diff_dst)
        ref.add("diff_src.%d" % k, src.grad)
        if affine:
            ref.add("diff_weight.%d" % k, bn.weight.grad)
            ref.add("diff_bias.%d" % k, bn.bias.grad)
        ref.add("running_mean.%d" % k, bn.running_mean)
        ref.add("running_var.%d" % k, bn.running_var)

    # Inference: normalise with the running statistics, which then act
    # as constants in the backward pass.
    bn.eval()
    bn.zero_grad()
    src = (0.5 + 2.0 * torch.randn(n, c, h, w)).requires_grad_(True)
    dst = bn(src)
    diff_dst = torch.randn_like(dst)
    dst.backward(diff_dst)
    ref.add("eval.src", src)
    ref.add("eval.dst", dst)
    ref.add("eval.diff_dst", diff_dst)
    ref.add("eval.diff_src", src.grad)
    ref.write(os.path.join(out, "layers", name + ".gref"))


def eltwise_case(out, name, kind, n, c, hw, slope=0.01):
    """Element-wise activation.  Entries: options, src, dst, diff_dst,
    diff_src.  options is [negative_slope] for leakyrelu, [0] otherwise.
    """
    seed_for(name)
    h, w = pair(hw)
    src = torch.randn(n, c, h, w)
    if kind in ("relu", "leakyrelu"):
        # Keep every value at least 1e-2 away from the kink at 0 so the
        # expected gradient does not depend on the convention there.
        small = src.abs() < 1e-2
        nudged = torch.full_like(src, 1e-2)
        nudged[src < 0] = -1e-2
        src = torch.where(small, nudged, src)
    src.requires_grad_(True)
    layer = {
        "relu": nn.ReLU(),
        "leakyrelu": nn.LeakyReLU(slope),
        "tanh": nn.Tanh(),
        "sigmoid": nn.Sigmoid(),
    }[kind]
    dst = layer(src)
    diff_dst = torch.randn_like(dst)
    dst.backward(diff_dst)
    ref = RefFile()
    ref.add("options", [slope if kind == "leakyrelu" else 0])
    ref.add("src", src)
    ref.add("dst", dst)
    ref.add("diff_dst", diff_dst)
    ref.add("diff_src", src.grad)
    ref.write(os.path.join(out, "layers", name + ".gref"))


def make_layers(out):
    """All layer cases; returns their names."""
    conv = [
        # name, N, C_in, C_out, (H, W), k, s, p, d, bias
        ("conv2d_k3s1p1", 2, 3, 4, 8, 3, 1, 1, 1, True),
        ("conv2d_k1s1p0", 2, 4, 3, 5, 1, 1, 0, 1, True),
        ("conv2d_k3s2p0_7x5_nobias", 1, 2, 3, (7, 5), 3, 2, 0, 1, False),
        ("conv2d_k5s1p2_9x7", 2, 2, 2, (9, 7), 5, 1, 2, 1, True),
        ("conv2d_k3s3p0_10x11", 1, 3, 2, (10, 11), 3, 3, 0, 1, True),
        ("conv2d_k3s1p2d2", 2, 2, 3, (9, 8), 3, 1, 2, 2, True),
        ("conv2d_k3x2s2x1p1x0_7x5", 2, 3, 4, (7, 5), (3, 2), (2, 1),
         (1, 0), 1, True),
        ("conv2d_k3s1p1d2x1_6x7", 1, 2, 2, (6, 7), 3, 1, 1, (2, 1), False),
        ("conv2d_k4s2p1_7x5", 1, 3, 2, (7, 5), 4, 2, 1, 1, True),
        # DC-GAN discriminator shapes.
        ("conv2d_dcgan_k4s2p1", 2, 3, 4, 8, 4, 2, 1, 1, False),
        ("conv2d_dcgan_k4s1p0_to1x1", 3, 8, 1, 4, 4, 1, 0, 1, False),
    ]
    convt = [
        # name, N, C_in, C_out, (H, W), k, s, p, d, op, bias
        # DC-GAN generator shapes.
        ("convt2d_dcgan_k4s1p0_1x1to4x4", 2, 8, 6, 1, 4, 1, 0, 1, 0,
         False),
        ("convt2d_dcgan_k4s2p1", 2, 6, 4, 4, 4, 2, 1, 1, 0, False),
        ("convt2d_k4s2p1_5x3", 1, 3, 2, (5, 3), 4, 2, 1, 1, 0, True),
        ("convt2d_k3s1p1", 2, 3, 4, 5, 3, 1, 1, 1, 0, True),
        ("convt2d_k1s1p0", 2, 4, 3, 3, 1, 1, 0, 1, 0, False),
        ("convt2d_k3s2p1op1_4x5", 2, 3, 2, (4, 5), 3, 2, 1, 1, 1, True),
        # output_padding > padding: the right padding is negative when
        # written as a strided convolution's backward pass.
        ("convt2d_k3s2p0op1_3x4", 1, 2, 3, (3, 4), 3, 2, 0, 1, 1, True),
        ("convt2d_k5s3p2_4x3", 1, 2, 2, (4, 3), 5, 3, 2, 1, 0, True),
        ("convt2d_k3s2p1d2", 2, 2, 3, 4, 3, 2, 1, 2, 0, True),
        ("convt2d_k3x5s2x1p1x2_5x4", 2, 3, 2, (5, 4), (3, 5), (2, 1),
         (1, 2), 1, 0, False),
        ("convt2d_k4s2p1op1x0_3x3", 1, 2, 2, 3, 4, 2, 1, 1, (1, 0), True),
        # One output channel, as G's last layer for one-channel images.
        ("convt2d_dcgan_k4s2p1_to1", 3, 8, 1, 5, 4, 2, 1, 1, 0, False),
        ("convt2d_k3s2p1op1_to1_4x3", 2, 4, 1, (4, 3), 3, 2, 1, 1, 1, True),
    ]
    names = []
    for name, n, cin, cout, hw, k, s, p, d, bias in conv:
        conv_case(out, name, n, cin, cout, hw, k, s, p, d, bias)
        names.append(name)
    for name, n, cin, cout, hw, k, s, p, d, op, bias in convt:
        conv_case(out, name, n, cin, cout, hw, k, s, p, d, bias,
                  transpose=True, op=op)
        names.append(name)

    bns = [
        # name, N, C, (H, W), eps, momentum, affine
        ("batchnorm2d_affine", 4, 3, (5, 4), 1e-5, 0.1, True),
        ("batchnorm2d_noaffine", 3, 2, (6, 5), 1e-5, 0.1, False),
        ("batchnorm2d_batch1_7x5", 1, 4, (7, 5), 1e-5, 0.1, True),
        ("batchnorm2d_eps1e-3_mom0.3", 2, 5, 3, 1e-3, 0.3, True),
    ]
    for name, n, c, hw, eps, mom, affine in bns:
        batchnorm_case(out, name, n, c, hw, eps, mom, affine, steps=3)
        names.append(name)

    elts = [
        # name, kind, N, C, (H, W), slope
        ("relu", "relu", 2, 3, (5, 4), 0.01),
        ("relu_batch1_7x5", "relu", 1, 2, (7, 5), 0.01),
        ("leakyrelu_0.2", "leakyrelu", 2, 3, (5, 4), 0.2),
        ("leakyrelu_default", "leakyrelu", 2, 3, (4, 5), 0.01),
        ("tanh", "tanh", 2, 3, (5, 4), 0.01),
        ("sigmoid", "sigmoid", 2, 3, (5, 4), 0.01),
    ]
    for name, kind, n, c, hw, slope in elts:
        eltwise_case(out, name, kind, n, c, hw, slope)
        names.append(name)
    return names


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------
#
# Entries: options [kind (0 BCELoss, 1 BCEWithLogitsLoss, 2 MSELoss),
# reduction (0 mean, 1 sum)], input, target, loss (rank 0), diff_input
# (d loss / d input with grad_output 1).

LOSS_KINDS = {"bce": 0, "bcelogits": 1, "mse": 2}
REDUCTIONS = {"mean": 0, "sum": 1}


def loss_case(out, name, kind, reduction, input_, target):
    fn = {
        "bce": nn.BCELoss(reduction=reduction),
        "bcelogits": nn.BCEWithLogitsLoss(reduction=reduction),
        "mse": nn.MSELoss(reduction=reduction),
    }[kind]
    x = input_.clone().to(torch.float32).requires_grad_(True)
    t = target.clone().to(torch.float32)
    loss = fn(x, t)
    loss.backward()
    ref = RefFile()
    ref.add("options", [LOSS_KINDS[kind], REDUCTIONS[reduction]])
    ref.add("input", x)
    ref.add("target", t)
    ref.add("loss", loss)
    ref.add("diff_input", x.grad)
    ref.write(os.path.join(out, "losses", name + ".gref"))


def random_loss_data(kind, shape):
    """Plausible inputs for each kind: probabilities for BCE, logits for
    BCEWithLogits, anything for MSE; 0/1 targets except for MSE."""
    if kind == "bce":
        return torch.sigmoid(2 * torch.randn(shape)), \
            torch.bernoulli(torch.full(shape, 0.5))
    if kind == "bcelogits":
        return 3 * torch.randn(shape), torch.bernoulli(torch.full(shape, 0.5))
    return torch.randn(shape), torch.randn(shape)


def make_losses(out):
    names = []

    def add(name, kind, reduction, x, t):
        loss_case(out, name, kind, reduction, x, t)
        names.append(name)

    # Each kind x each reduction on random data, of various shapes.
    shapes = {"mean": (4, 1, 1, 1), "sum": (2, 3, 5)}
    for kind in ("bce", "bcelogits", "mse"):
        for red in ("mean", "sum"):
            name = "%s_%s" % (kind, red)
            seed_for(name)
            x, t = random_loss_data(kind, shapes[red])
            add(name, kind, red, x, t)

    # BCE at p exactly 0 and 1: PyTorch clamps log() at -100, so each
    # such term costs at most 100, and the gradient is
    # (p - t) / max(p (1 - p), 1e-12): finite but as large as 1e12.
    p = torch.tensor([0, 0, 1, 1, 0, 1, 0.25, 0.75])
    t = torch.tensor([0, 1, 0, 1, 0.9, 0.9, 1, 0])
    for red in ("mean", "sum"):
        add("bce_p01_%s" % red, "bce", red, p, t)

    # BCEWithLogits with extreme logits: exp() must not overflow.
    x = torch.tensor([100, -100, 1e4, -1e4, 100, -100, 1e4, -1e4, 0, 0.5])
    t = torch.tensor([0, 1, 0, 1, 1, 0, 1, 0, 1, 0.9])
    for red in ("mean", "sum"):
        add("bcelogits_extreme_%s" % red, "bcelogits", red, x, t)

    # Label smoothing: real targets 0.9 (the one-sided smoothing trick).
    seed_for("smoothed")
    x = torch.randn(8)
    add("bce_smoothed_0.9_mean", "bce", "mean", torch.sigmoid(x),
        torch.full((8,), 0.9))
    add("bcelogits_smoothed_0.9_mean", "bcelogits", "mean", x,
        torch.full((8,), 0.9))

    # Constant target: all ones (the generator's loss in a GAN).
    seed_for("ones")
    x = torch.randn(2, 4)
    add("bce_target_ones_mean", "bce", "mean", torch.sigmoid(x),
        torch.ones(2, 4))
    add("bcelogits_target_ones_sum", "bcelogits", "sum", x,
        torch.ones(2, 4))
    add("mse_target_ones_mean", "mse", "mean", x, torch.ones(2, 4))
    return names


# ---------------------------------------------------------------------------
# Optimisers
# ---------------------------------------------------------------------------
#
# Entries: options [kind (0 Adam, 1 SGD), lr, beta1 | momentum,
# beta2 | dampening, eps | nesterov (0/1), weight_decay, amsgrad (0/1,
# 0 for SGD), steps]; param.<i>.init; src; target; param.<i>.final;
# loss (rank 1, one value per step, computed before that step's update);
# running_mean.final, running_var.final.

OPTIM_STEPS = 20


class SmallNet(nn.Module):
    """Conv -> BN -> LeakyReLU -> strided conv -> Sigmoid, 8x8 -> 4x4.

    conv0 has no bias, as convolutions followed by BatchNorm have in
    DC-GAN: the train-mode BN would cancel it exactly, so its true
    gradient would be 0 and PyTorch's only rounding noise (~1e-9), which
    Adam divides by sqrt(v) and turns into steps of up to lr.  Such a
    bias, and the running mean that sees it, could not be reproduced.
    """

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(1, 4, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.LeakyReLU(0.2)
        self.conv1 = nn.Conv2d(4, 1, 4, 2, 1)

    def forward(self, x):
        return torch.sigmoid(self.conv1(self.act(self.bn(self.conv0(x)))))


def optim_case(out, name, kind, lr, a=0.0, b=0.0, c=0.0, weight_decay=0.0,
               amsgrad=False):
    """a, b, c are (beta1, beta2, eps) for Adam and (momentum,
    dampening, nesterov) for SGD."""
    # Same seed for every case: all optimisers start from the same net
    # and data, so their results can be told apart only by the update.
    torch.manual_seed(20240)
    net = SmallNet()
    src = torch.randn(4, 1, 8, 8)
    target = torch.bernoulli(torch.full((4, 1, 4, 4), 0.5))
    params = list(net.parameters())
    if kind == "adam":
        opt = torch.optim.Adam(params, lr=lr, betas=(a, b), eps=c,
                               weight_decay=weight_decay, amsgrad=amsgrad)
        options = [0, lr, a, b, c, weight_decay, int(amsgrad), OPTIM_STEPS]
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=a, dampening=b,
                              nesterov=bool(c), weight_decay=weight_decay)
        options = [1, lr, a, b, int(bool(c)), weight_decay, 0, OPTIM_STEPS]

    ref = RefFile()
    ref.add("options", options)
    for i, prm in enumerate(params):
        ref.add("param.%d.init" % i, prm)
    ref.add("src", src)
    ref.add("target", target)

    loss_fn = nn.BCELoss()
    net.train()
    losses = []
    for _ in range(OPTIM_STEPS):
        opt.zero_grad()
        loss = loss_fn(net(src), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for i, prm in enumerate(params):
        ref.add("param.%d.final" % i, prm)
    ref.add("loss", losses)
    ref.add("running_mean.final", net.bn.running_mean)
    ref.add("running_var.final", net.bn.running_var)
    ref.write(os.path.join(out, "optim", name + ".gref"))


def make_optim(out):
    cases = [
        ("adam_default", "adam", 1e-3, 0.9, 0.999, 1e-8, 0.0, False),
        ("adam_dcgan", "adam", 2e-4, 0.5, 0.999, 1e-8, 0.0, False),
        ("adam_wd0.01", "adam", 1e-3, 0.9, 0.999, 1e-8, 0.01, False),
        ("adam_amsgrad", "adam", 1e-3, 0.9, 0.999, 1e-8, 0.0, True),
        ("sgd_plain", "sgd", 0.1, 0.0, 0.0, 0, 0.0, False),
        ("sgd_momentum0.9", "sgd", 0.1, 0.9, 0.0, 0, 0.0, False),
        ("sgd_momentum0.9_damp0.1", "sgd", 0.1, 0.9, 0.1, 0, 0.0, False),
        ("sgd_nesterov0.9", "sgd", 0.1, 0.9, 0.0, 1, 0.0, False),
        ("sgd_momentum0.9_wd1e-3", "sgd", 0.1, 0.9, 0.0, 0, 1e-3, False),
    ]
    for name, kind, lr, a, b, c, wd, ams in cases:
        optim_case(out, name, kind, lr, a, b, c, wd, ams)
    return [c[0] for c in cases]


# ---------------------------------------------------------------------------
# DC-GAN iteration
# ---------------------------------------------------------------------------

NZ, NGF, NDF, BATCH = 8, 8, 8, 4


def make_generator():
    return nn.Sequential(
        nn.ConvTranspose2d(NZ, NGF * 4, 4, 1, 0, bias=False),       # 4x4
        nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False),  # 8x8
        nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False),      # 16x16
        nn.BatchNorm2d(NGF), nn.ReLU(True),
        nn.ConvTranspose2d(NGF, 1, 4, 2, 1, bias=False),            # 32x32
        nn.Tanh(),
    )


def make_discriminator():
    return nn.Sequential(
        nn.Conv2d(1, NDF, 4, 2, 1, bias=False),                     # 16x16
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),               # 8x8
        nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False),           # 4x4
        nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 4, 1, 4, 1, 0, bias=False),                 # 1x1
        nn.Sigmoid(),
    )


def dcgan_init(m):
    """The DC-GAN paper's init, as in PyTorch's dcgan example."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def make_dcgan(out):
    """One training iteration, as in PyTorch's examples/dcgan/main.py.

    Entries: G.<i>.init, D.<i>.init (model.parameters() order), real,
    noise, fake, errD_real, errD_fake, errG, D_x, D_G_z1, D_G_z2,
    G.<i>.final, D.<i>.final, G.bn<j>.running_mean/running_var,
    D.bn<j>.running_mean/running_var (j counts BN layers from 0).
    """
    seed_for("dcgan_step")
    netG = make_generator()
    netD = make_discriminator()
    netG.apply(dcgan_init)
    netD.apply(dcgan_init)
    real = torch.rand(BATCH, 1, 32, 32) * 2 - 1
    noise = torch.randn(BATCH, NZ, 1, 1)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones = torch.full((BATCH,), 1.0)
    zeros = torch.full((BATCH,), 0.0)

    ref = RefFile()
    for i, prm in enumerate(netG.parameters()):
        ref.add("G.%d.init" % i, prm)
    for i, prm in enumerate(netD.parameters()):
        ref.add("D.%d.init" % i, prm)
    ref.add("real", real)
    ref.add("noise", noise)

    netG.train()
    netD.train()
    # (1) Update D: maximise log(D(x)) + log(1 - D(G(z))).
    netD.zero_grad()
    output = netD(real).view(-1)
    errD_real = criterion(output, ones)
    errD_real.backward()
    D_x = output.mean()
    fake = netG(noise)
    output = netD(fake.detach()).view(-1)
    errD_fake = criterion(output, zeros)
    errD_fake.backward()
    D_G_z1 = output.mean()
    optD.step()
    # (2) Update G: maximise log(D(G(z))), with D already updated.
    netG.zero_grad()
    output = netD(fake).view(-1)
    errG = criterion(output, ones)
    errG.backward()
    D_G_z2 = output.mean()
    optG.step()

    ref.add("fake", fake)
    ref.add("errD_real", errD_real)
    ref.add("errD_fake", errD_fake)
    ref.add("errG", errG)
    ref.add("D_x", D_x)
    ref.add("D_G_z1", D_G_z1)
    ref.add("D_G_z2", D_G_z2)
    for i, prm in enumerate(netG.parameters()):
        ref.add("G.%d.final" % i, prm)
    for i, prm in enumerate(netD.parameters()):
        ref.add("D.%d.final" % i, prm)
    # G ran forward once in train mode, so its running stats were updated
    # once.  D ran forward three times in train mode (real, fake.detach(),
    # fake), so its running stats were updated three times, in that order
    # (the third pass already uses D's updated weights).
    for tag, net in (("G", netG), ("D", netD)):
        bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        for j, bn in enumerate(bns):
            ref.add("%s.bn%d.running_mean" % (tag, j), bn.running_mean)
            ref.add("%s.bn%d.running_var" % (tag, j), bn.running_var)
    ref.write(os.path.join(out, "dcgan_step.gref"))


# ---------------------------------------------------------------------------

def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "data"))
    parser = argparse.ArgumentParser(
        description="Write libganet's PyTorch reference data (.gref).")
    parser.add_argument("--out", default=default_out, metavar="DIR",
                        help="output folder (default: tests/data)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    torch.use_deterministic_algorithms(True)

    layers = make_layers(args.out)
    losses = make_losses(args.out)
    optims = make_optim(args.out)
    make_dcgan(args.out)
    print("torch %s: wrote %d layer, %d loss, %d optim cases and "
          "dcgan_step to %s" % (torch.__version__, len(layers), len(losses),
                                len(optims), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
