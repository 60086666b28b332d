#!/usr/bin/python3
"""Peer reference (the team's shared bench script, carried in the repository so that `fewshot bench shakespeare
--peer pytorch` runs it from any clone; two changes: --iters for the Shakespeare loop, and --init gpt2 for GPT-2's
initialisation): a GPT-2/3-architecture model in PyTorch (Debian's python3-torch),
written for side-by-side measurement of training and decoding throughput on the
same machine. Pre-LN blocks, GELU(tanh), learned positions, tied embeddings,
AdamW(0.9,0.95), grad clip 1.0 - the same math the project must implement.

usage: peer_gpt.py train|decode [--layers 6 --heads 6 --embd 384 --ctx 256 --vocab 8192 --batch 8 --steps 10]
       peer_gpt.py shakespeare --text FILE   (nanoGPT's CPU recipe for shakespeare_char: 4 layers, 4 heads,
         d 128, ctx 64, batch 12, 2000 iters, lr 1e-3 -> 1e-4 cosine, warmup 100, beta2 0.99, no dropout;
         first 90% of the characters train, last 10% validate; val loss on 200 fixed batches)
prints one JSON line."""
import argparse, json, math, time, torch, torch.nn as nn, torch.nn.functional as F

class Block(nn.Module):
    def __init__(s, d, h):
        super().__init__(); s.h = h
        s.ln1 = nn.LayerNorm(d); s.qkv = nn.Linear(d, 3 * d); s.proj = nn.Linear(d, d)
        s.ln2 = nn.LayerNorm(d); s.fc = nn.Linear(d, 4 * d); s.out = nn.Linear(4 * d, d)
    def attn(s, x, cache=None):
        B, T, C = x.shape
        q, k, v = s.qkv(x).split(C, dim=2)
        q, k, v = [t.view(B, T, s.h, C // s.h).transpose(1, 2) for t in (q, k, v)]
        if cache is not None:
            if cache.get('k') is not None:
                k = torch.cat([cache['k'], k], 2); v = torch.cat([cache['v'], v], 2)
            cache['k'], cache['v'] = k, v
        causal = cache is None or T > 1
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal) if hasattr(F, 'scaled_dot_product_attention') else None
        if y is None:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            if causal:
                Tk = k.size(2); mask = torch.ones(T, Tk, dtype=torch.bool).tril(Tk - T)
                att = att.masked_fill(~mask, float('-inf'))
            y = att.softmax(-1) @ v
        return s.proj(y.transpose(1, 2).contiguous().view(B, T, C))
    def forward(s, x, cache=None):
        x = x + s.attn(s.ln1(x), cache)
        return x + s.out(F.gelu(s.fc(s.ln2(x)), approximate='tanh'))

class GPT(nn.Module):
    def __init__(s, L, H, D, T, V, init='pytorch'):
        super().__init__()
        s.wte = nn.Embedding(V, D); s.wpe = nn.Embedding(T, D)
        s.blocks = nn.ModuleList([Block(D, H) for _ in range(L)]); s.lnf = nn.LayerNorm(D)
        s.head = nn.Linear(D, V, bias=False); s.head.weight = s.wte.weight
        s.apply(lambda m: nn.init.normal_(m.weight, 0, 0.02) if isinstance(m, (nn.Linear, nn.Embedding)) else None)
        if init == 'gpt2':  # zero linear biases; residual projections N(0, 0.02 / sqrt(2 L))
            for m in s.modules():
                if isinstance(m, nn.Linear) and m.bias is not None: nn.init.zeros_(m.bias)
            for b in s.blocks:
                nn.init.normal_(b.proj.weight, 0, 0.02 / math.sqrt(2 * L)); nn.init.normal_(b.out.weight, 0, 0.02 / math.sqrt(2 * L))
    def forward(s, idx, caches=None, pos0=0):
        T = idx.size(1); pos = torch.arange(pos0, pos0 + T)
        x = s.wte(idx) + s.wpe(pos)
        for i, b in enumerate(s.blocks): x = b(x, None if caches is None else caches[i])
        return s.head(s.lnf(x))

def main():
    p = argparse.ArgumentParser(); p.add_argument('mode')
    for k, v in dict(layers=6, heads=6, embd=384, ctx=256, vocab=8192, batch=8, steps=10, threads=2, tokens=128).items():
        p.add_argument('--' + k, type=int, default=v)
    p.add_argument('--text', default=None)
    p.add_argument('--iters', type=int, default=2000, help='shakespeare: training steps')
    p.add_argument('--init', default='pytorch', choices=['pytorch', 'gpt2'], help='shakespeare: initialisation (default: as above)')
    p.add_argument('--seed', type=int, default=None, help='one seed for init and data order (default: init 0, data 1337)')
    a = p.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(0 if a.seed is None else a.seed)
    if a.mode == 'shakespeare': return shakespeare(a)
    m = GPT(a.layers, a.heads, a.embd, a.ctx, a.vocab)
    n = sum(t.numel() for t in m.parameters()) - m.wpe.weight.numel()
    if a.mode == 'train':
        opt = torch.optim.AdamW(m.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
        x = torch.randint(0, a.vocab, (a.batch, a.ctx)); y = torch.randint(0, a.vocab, (a.batch, a.ctx))
        def step():
            loss = F.cross_entropy(m(x).view(-1, a.vocab), y.view(-1)); opt.zero_grad(set_to_none=True)
            loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
        for _ in range(2): step()
        t = time.perf_counter()
        for _ in range(a.steps): step()
        dt = (time.perf_counter() - t) / a.steps
        tok = a.batch * a.ctx / dt
        flops_tok = 6 * n + 12 * a.layers * a.embd * a.ctx
        print(json.dumps(dict(peer='pytorch', version=torch.__version__, mode='train', params=n, tokens_per_s=round(tok, 1),
                              step_s=round(dt, 4), gflops=round(tok * flops_tok / 1e9, 1))))
    else:
        m.eval()
        with torch.no_grad():
            idx = torch.randint(0, a.vocab, (1, 16)); caches = [dict() for _ in m.blocks]
            logits = m(idx, caches); nxt = logits[:, -1].argmax(-1, keepdim=True); pos = 16
            t = time.perf_counter()
            for _ in range(a.tokens):
                logits = m(nxt, caches, pos); pos += 1; nxt = logits[:, -1].argmax(-1, keepdim=True)
            dt = time.perf_counter() - t
        print(json.dumps(dict(peer='pytorch', version=torch.__version__, mode='decode', params=n, tokens_per_s=round(a.tokens / dt, 1))))

def shakespeare(a):
    text = open(a.text, encoding='utf-8').read(); chars = sorted(set(text)); stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long); n = int(0.9 * len(data))
    train, val = data[:n], data[n:]; T, B, iters = 64, 12, a.iters
    m = GPT(4, 4, 128, T, len(chars), a.init)
    decay = [p_ for p_ in m.parameters() if p_.dim() >= 2]; nodecay = [p_ for p_ in m.parameters() if p_.dim() < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.1), dict(params=nodecay, weight_decay=0.0)], lr=1e-3, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(1337 if a.seed is None else a.seed)
    def batch(src, gen):
        ix = torch.randint(len(src) - T - 1, (B,), generator=gen)
        return torch.stack([src[i:i + T] for i in ix]), torch.stack([src[i + 1:i + T + 1] for i in ix])
    def lr(it):
        if it < 100: return 1e-3 * (it + 1) / 101
        r = (it - 100) / (iters - 100); return 1e-4 + 0.5 * (1 + math.cos(math.pi * r)) * (1e-3 - 1e-4)
    t0 = time.perf_counter()
    for it in range(iters):
        for gr in opt.param_groups: gr['lr'] = lr(it)
        x, y = batch(train, g)
        loss = F.cross_entropy(m(x).view(-1, len(chars)), y.view(-1)); opt.zero_grad(set_to_none=True)
        loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    train_s = time.perf_counter() - t0
    m.eval(); gv = torch.Generator().manual_seed(42); tot = 0.0
    with torch.no_grad():
        for _ in range(200):
            x, y = batch(val, gv); tot += F.cross_entropy(m(x).view(-1, len(chars)), y.view(-1)).item()
    print(json.dumps(dict(peer='pytorch', version=torch.__version__, mode='shakespeare', iters=iters, train_seconds=round(train_s, 1),
                          val_loss=round(tot / 200, 4), params=sum(t.numel() for t in m.parameters()))))

if __name__ == '__main__': main()
