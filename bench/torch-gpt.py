#!/usr/bin/env python3
# PyTorch CPU, the native anchor of bench/headline.mjs: the same work as bench/gemm.ts and bench/gpt.ts
# (f32 GEMM at the GPT shapes; GPT-1 prefill 1×512 with the logits of every position; decode ms/token
# after a 128-token prompt with a KV cache; training tokens/s of the small GPT at B 8 × T 256 and of
# GPT-1 at B 1 × T 512: forward, loss, backward, AdamW, loss read back; dropout off), on --threads threads.
# The model is written here in plain torch (GPT-1's post-LN blocks, tied LM head, GELU tanh) so that no
# package beyond Debian's python3-torch is needed. Medians of --reps after a warm-up; JSON on stdout.
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/torch-gpt.py --threads 2 [--reps 3]
# (libopenblas0-openmp must be installed: without it torch falls back to a reference BLAS, ~50x slower.)
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--reps', type=int, default=3)
ap.add_argument('--train-reps', type=int, default=2)
ap.add_argument('--decode-steps', type=int, default=8)
ap.add_argument('--only', default='gemm,prefill,decode,train-small,train-gpt1')
args = ap.parse_args()
want = set(args.only.split(','))
torch.set_num_threads(args.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(0)

CONFIGS = {
    'gpt1': dict(V=40478, ctx=512, C=768, L=12, NH=12, F=3072),
    'small': dict(V=8192, ctx=256, C=384, L=6, NH=6, F=1536),
}


def timed(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


class GPT(torch.nn.Module):
    """GPT-1: token + position embeddings, post-LN blocks, LM head tied to the token embedding."""

    def __init__(self, V, ctx, C, L, NH, F):
        super().__init__()
        self.C, self.NH = C, NH
        self.wte = torch.nn.Parameter(torch.randn(V, C) * 0.02)
        self.wpe = torch.nn.Parameter(torch.randn(ctx, C) * 0.02)
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            b = torch.nn.Module()
            b.c_attn, b.c_proj = torch.nn.Linear(C, 3 * C), torch.nn.Linear(C, C)
            b.ln_1, b.ln_2 = torch.nn.LayerNorm(C), torch.nn.LayerNorm(C)
            b.c_fc, b.mlp_proj = torch.nn.Linear(C, F), torch.nn.Linear(F, C)
            self.blocks.append(b)

    def forward(self, ids, cache=None):
        B, T = ids.shape
        pos0 = 0 if cache is None or cache[0] is None else cache[0][0].shape[2]
        x = self.wte[ids] + self.wpe[pos0:pos0 + T]
        hs = self.C // self.NH
        for i, b in enumerate(self.blocks):
            q, k, v = b.c_attn(x).split(self.C, dim=2)
            q, k, v = (t.view(B, T, self.NH, hs).transpose(1, 2) for t in (q, k, v))
            if cache is not None:
                if cache[i] is not None:
                    k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
            s = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            n = k.shape[2]
            mask = torch.ones(T, n, dtype=torch.bool).tril(n - T)
            a = (s.masked_fill(~mask, float('-inf')).softmax(-1) @ v).transpose(1, 2).reshape(B, T, self.C)
            x = b.ln_1(x + b.c_proj(a))
            x = b.ln_2(x + b.mlp_proj(F.gelu(b.c_fc(x), approximate='tanh')))
        return x @ self.wte.t()


out = {'threads': args.threads, 'torch': torch.__version__, 'gemm': {}, 'prefill': None, 'decode': None, 'trainSmall': None, 'trainGpt1': None}

if 'gemm' in want:
    for M, K, N in [(512, 768, 768), (512, 768, 3072), (512, 3072, 768), (512, 768, 40478)]:
        a, b = torch.randn(M, K), torch.randn(K, N)
        ms = timed(lambda: torch.mm(a, b), max(args.reps, 5))
        out['gemm'][f'{M}x{K}x{N}'] = 2 * M * K * N / ms / 1e6

if want & {'prefill', 'decode', 'train-gpt1'}:
    g1 = GPT(**CONFIGS['gpt1'])
    V = CONFIGS['gpt1']['V']
    with torch.no_grad():
        if 'prefill' in want:
            ids = torch.randint(0, V, (1, 512))
            out['prefill'] = timed(lambda: g1(ids), args.reps)
        if 'decode' in want:
            prompt = torch.randint(0, V, (1, 128))
            per = []
            for _ in range(args.reps + 1):
                cache = [None] * len(g1.blocks)
                tok = g1(prompt, cache)[:, -1].argmax(-1, keepdim=True)
                t = time.perf_counter()
                for _ in range(args.decode_steps):
                    tok = g1(tok, cache)[:, -1].argmax(-1, keepdim=True)
                per.append((time.perf_counter() - t) * 1000 / args.decode_steps)
            out['decode'] = statistics.median(per[1:])  # the first run is the warm-up


def train_rate(cfg, B, T):
    model = GPT(**cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    ids, tg = torch.randint(0, cfg['V'], (B, T)), torch.randint(0, cfg['V'], (B, T))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(ids).view(B * T, -1), tg.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()

    return B * T / (timed(step, args.train_reps) / 1000)


if 'train-gpt1' in want:
    del g1
    out['trainGpt1'] = train_rate(CONFIGS['gpt1'], 1, 512)
if 'train-small' in want:
    out['trainSmall'] = train_rate(CONFIGS['small'], 8, 256)
print(json.dumps(out))
