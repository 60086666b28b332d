#!/usr/bin/python3
"""Scores a FewShot model folder the way peer_gpt.py's Shakespeare loop scores its own model: the loop's GPT class,
the last 10% of the text's characters, the mean cross-entropy of 200 batches of 12 windows of 64 drawn by a generator
seeded 42. The two programs otherwise sample different validation windows, and that sample alone moves the loss by
~0.01; scoring both models on the same windows compares them on equal terms.

usage: peer_score.py --text FILE --model DIR    (DIR: a char-tokenized, all-dense model folder with biases)
prints one JSON line: {"val_loss": ...}"""
import argparse, json, os, struct, sys, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_gpt import GPT

def tensors(path):
    # safetensors: an 8-byte little-endian header length, a JSON header, then the raw little-endian data
    raw = open(path, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]; header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == '__metadata__': continue
        if info['dtype'] != 'F32': sys.exit(f"{path}: tensor '{name}' is {info['dtype']}; only F32 model folders can be scored")
        start, end = info['data_offsets']
        out[name] = torch.frombuffer(bytearray(raw[8 + n + start:8 + n + end]), dtype=torch.float32).view(info['shape'])
    return out

def main():
    p = argparse.ArgumentParser(); p.add_argument('--text', required=True); p.add_argument('--model', required=True)
    a = p.parse_args(); torch.set_num_threads(1)
    config = json.load(open(os.path.join(a.model, 'config.json'))); tok = json.load(open(os.path.join(a.model, 'tokenizer.json')))
    if tok.get('kind') != 'char': sys.exit(f"{a.model}: tokenizer '{tok.get('kind')}' is not char; the loop reads characters")
    if not config.get('bias', True): sys.exit(f"{a.model}: a model without biases does not fit the loop's GPT class")
    layout = [kind for group, count in config['attention_types'] for kind in group * count]
    if any(kind != 'dense' for kind in layout): sys.exit(f"{a.model}: sparse attention layers; the loop's GPT is dense")
    L, H, D, ctx, V = config['n_layer'], config['n_head'], config['n_embd'], config['n_ctx'], config['vocab_size']
    T, B = 64, 12
    if ctx < T: sys.exit(f"{a.model}: context {ctx} is shorter than the loop's windows of {T}")
    stoi = {c: i for i, c in enumerate(tok['alphabet'])}
    text = open(a.text, encoding='utf-8').read()
    missing = sorted(set(text) - set(stoi))
    if missing: sys.exit(f"{a.text}: characters {missing[:5]} are not in the model's alphabet")
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long); val = data[int(0.9 * len(data)):]

    t = tensors(os.path.join(a.model, 'model.safetensors'))
    m = GPT(L, H, D, ctx, V)
    state = {'wte.weight': t['wte.weight'], 'wpe.weight': t['wpe.weight'], 'lnf.weight': t['ln_f.weight'],
             'lnf.bias': t['ln_f.bias'], 'head.weight': t['wte.weight']}
    names = [('ln1', 'ln_1'), ('ln2', 'ln_2'), ('qkv', 'attn.c_attn'), ('proj', 'attn.c_proj'), ('fc', 'mlp.c_fc'), ('out', 'mlp.c_proj')]
    for i in range(L):
        for ours, theirs in names:
            for kind in ('weight', 'bias'): state[f'blocks.{i}.{ours}.{kind}'] = t[f'h.{i}.{theirs}.{kind}']
    m.load_state_dict(state); m.eval()

    # The loop's own validation: 200 batches from a generator seeded 42, the mean of the batch means.
    generator = torch.Generator().manual_seed(42); total = 0.0
    with torch.no_grad():
        for _ in range(200):
            ix = torch.randint(len(val) - T - 1, (B,), generator=generator)
            x = torch.stack([val[i:i + T] for i in ix]); y = torch.stack([val[i + 1:i + T + 1] for i in ix])
            total += F.cross_entropy(m(x).view(-1, V), y.view(-1)).item()
    print(json.dumps(dict(val_loss=round(total / 200, 4))))

if __name__ == '__main__': main()
