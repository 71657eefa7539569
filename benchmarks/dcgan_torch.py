#!/usr/bin/python3
"""The work of bench_dcgan in PyTorch, to compare libganet against.

The generator and discriminator of PyTorch's examples/dcgan (and of
examples/dcgan/model.c), one training iteration in the order of that
example's main.py, and generator inference under torch.no_grad() in eval()
mode. Like bench_dcgan, the batch and the noise are fixed random tensors
made before the clock starts: data loading and drawing noise are not the
arithmetic being compared.

Prints a human-readable summary and, last, one JSON line with the medians
and the peak resident memory.

    /usr/bin/python3 benchmarks/dcgan_torch.py --image-size 64 --threads 2
"""

import argparse
import ctypes
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn


def generator(size, nc, nz, ngf):
    """G: (N, nz, 1, 1) -> (N, nc, size, size), as model.c builds it."""
    mult = size // 8
    layers = [nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False),
              nn.BatchNorm2d(ngf * mult), nn.ReLU(True)]
    while mult > 1:
        layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1,
                                      bias=False),
                   nn.BatchNorm2d(ngf * mult // 2), nn.ReLU(True)]
        mult //= 2
    layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(size, nc, ndf):
    """D: (N, nc, size, size) -> (N, 1, 1, 1), as model.c builds it."""
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
              nn.LeakyReLU(0.2, inplace=True)]
    mult = 1
    while mult < size // 8:
        layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False),
                   nn.BatchNorm2d(ndf * mult * 2),
                   nn.LeakyReLU(0.2, inplace=True)]
        mult *= 2
    layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
    return nn.Sequential(*layers)


def weights_init(m):
    """The DC-GAN paper's initialisation, as in main.py."""
    name = m.__class__.__name__
    if name.find('Conv') != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find('BatchNorm') != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def blas_in_use():
    """The BLAS library this process loaded and, for OpenBLAS, its kernel
    (core name) and threading: 0 sequential, 1 pthreads, 2 OpenMP."""
    paths = set()
    with open('/proc/self/maps') as maps:
        for line in maps:
            path = line.split()[-1]
            if 'blas' in os.path.basename(path) and path.startswith('/'):
                paths.add(os.path.realpath(path))
    info = {'libraries': sorted(paths)}
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            info['openblas_core'] = lib.openblas_get_corename().decode()
            threading = {0: 'sequential', 1: 'pthreads', 2: 'openmp'}
            info['openblas_threading'] = threading.get(
                lib.openblas_get_parallel(), 'unknown')
            break
        except (OSError, AttributeError):
            continue
    return info


def timed(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--image-size', type=int, choices=(32, 64), default=64)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--mode', choices=('train', 'sample', 'both'),
                   default='both')
    p.add_argument('--channels-last', dest='channels_last',
                   action=argparse.BooleanOptionalAction, default=True,
                   help='keep activations and weights NHWC (default: on, '
                        'the fastest layout for oneDNN in PyTorch)')
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    # 64x64 is PyTorch's RGB example; 32x32 is Fashion-MNIST, one channel.
    nc = 3 if a.image_size == 64 else 1
    nz, ngf, ndf, n = 100, 64, 64, a.batch
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format

    net_g = generator(a.image_size, nc, nz, ngf)
    net_d = discriminator(a.image_size, nc, ndf)
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    net_g = net_g.to(memory_format=fmt)
    net_d = net_d.to(memory_format=fmt)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))

    real = (torch.rand(n, nc, a.image_size, a.image_size) * 2 - 1).to(
        memory_format=fmt)
    noise = torch.randn(n, nz, 1, 1).to(memory_format=fmt)
    real_label, fake_label = 1.0, 0.0
    label = torch.full((n,), real_label)
    stats = {}

    def train_step():
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z))).
        net_d.zero_grad()
        label.fill_(real_label)
        output = net_d(real).view(-1)
        err_d_real = criterion(output, label)
        err_d_real.backward()
        stats['d_x'] = output.mean().item()
        fake = net_g(noise)
        label.fill_(fake_label)
        output = net_d(fake.detach()).view(-1)
        err_d_fake = criterion(output, label)
        err_d_fake.backward()
        stats['d_g_z1'] = output.mean().item()
        stats['loss_d'] = (err_d_real + err_d_fake).item()
        opt_d.step()
        # (2) Update G: maximize log(D(G(z))).
        net_g.zero_grad()
        label.fill_(real_label)
        output = net_d(fake).view(-1)
        err_g = criterion(output, label)
        err_g.backward()
        stats['d_g_z2'] = output.mean().item()
        stats['loss_g'] = err_g.item()
        opt_g.step()

    def sample():
        with torch.no_grad():
            net_g(noise)

    result = {'impl': 'pytorch', 'torch': torch.__version__,
              'image_size': a.image_size, 'batch': n, 'threads': a.threads,
              'iters': a.iters, 'channels_last': a.channels_last,
              'mkldnn': torch.backends.mkldnn.is_available()}
    print(f'dcgan_torch: torch {torch.__version__}, {a.image_size}x'
          f'{a.image_size}, {nc} channel(s), batch {n}, '
          f'{torch.get_num_threads()} thread(s), channels_last '
          f'{a.channels_last}, {a.iters} iterations after {a.warmup} warm-up')
    if a.mode in ('train', 'both'):
        net_g.train()
        net_d.train()
        t = timed(train_step, a.warmup, a.iters)
        result.update(train_ms=statistics.median(t), train_min_ms=min(t),
                      train_max_ms=max(t))
        print(f'train iteration        median {result["train_ms"]:9.2f} ms'
              f'   min {min(t):9.2f}   max {max(t):9.2f}   (loss_d '
              f'{stats["loss_d"]:.3f} loss_g {stats["loss_g"]:.3f})')
    if a.mode in ('sample', 'both'):
        net_g.eval()
        t = timed(sample, a.warmup, a.iters)
        med = statistics.median(t)
        result.update(sample_ms=med, sample_ips=n * 1e3 / med)
        print(f'generator inference    median {med:9.2f} ms   min '
              f'{min(t):9.2f}   max {max(t):9.2f}   '
              f'{n * 1e3 / med:.1f} images/s')
    # Linux counts ru_maxrss in KiB.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result['peak_rss_mib'] = round(rss, 1)
    result['blas'] = blas_in_use()
    print(f'peak resident memory: {rss:.1f} MiB; BLAS: {result["blas"]}')
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
