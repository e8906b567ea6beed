#!/usr/bin/env python3
"""bench/torch_bert_step.py — one BERT training step in PyTorch eager on this GPU, the named
baseline that lesson 13's GPU step is read against (bench/gpu.sh runs both in the same session).

    python3 bench/torch_bert_step.py --shape bert-base --batch 32 --seq 128 [--tf32]

The step is lesson 13's: transformers' BertForSequenceClassification (random weights at the
shape, 2 labels, dropout 0.1, train mode), forward with labels (cross-entropy), loss.backward(),
torch.nn.utils.clip_grad_norm_(1.0), torch.optim.AdamW(fused=True) with the Trainer's no-decay
group (biases and LayerNorm weights), lr 2e-5, weight decay 0.01. The batch has lesson 13's
shape and padding: row i keeps seq - i*seq/(2*batch) tokens. Time = mean of --steps steps after
--warmup, between torch.cuda.synchronize() calls. The FLOPs per step are lesson 13's count
(3 x forward; forward = per layer 2 B T (4 C^2 + 2 C I) + 4 B T^2 C, plus pooler and classifier).
"""
import argparse
import time

import torch
import transformers

SHAPES = {  # layers, hidden, heads, intermediate
    "bert-base": (12, 768, 12, 3072),
    "minilm": (6, 384, 12, 1536),
}


def step_flops(B, T, L, C, I, K=2):
    layer = 2 * B * T * (4 * C * C + 2 * C * I) + 4 * B * T * T * C
    return 3 * (L * layer + 2 * B * C * C + 2 * B * C * K)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="bert-base")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--tf32", action="store_true", help="matmuls in TF32 (default: float32, TF32 off)")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device found: torch.cuda.is_available() is False; nothing was timed")
        return
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.manual_seed(a.seed)
    L, C, NH, I = SHAPES[a.shape]
    config = transformers.BertConfig(vocab_size=30522, hidden_size=C, num_hidden_layers=L, num_attention_heads=NH,
                                     intermediate_size=I, max_position_embeddings=512, num_labels=2)
    model = transformers.BertForSequenceClassification(config).cuda().train()
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=2e-5, fused=True)

    B, T = a.batch, a.seq
    ids = torch.randint(0, config.vocab_size, (B, T), device="cuda")
    mask = torch.zeros(B, T, dtype=torch.long, device="cuda")
    for i in range(B):
        mask[i, : T - i * T // (2 * B)] = 1
    ids = ids * mask  # padding is token 0, as in lesson 13
    labels = torch.randint(0, 2, (B,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / a.steps
    print(f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
          f"attention {getattr(model.config, '_attn_implementation', 'default')}, on {torch.cuda.get_device_name(0)}")
    print(f"shape {a.shape}: {L} layers, hidden {C}, {NH} heads, intermediate {I}; batch {B} x {T}; "
          f"{'TF32' if a.tf32 else 'float32 (TF32 off)'}; {a.warmup} warm-up step(s), then the mean of {a.steps}")
    flops = step_flops(B, T, L, C, I)
    print(f"PyTorch step: {seconds * 1e3:.2f} ms, {B / seconds:.1f} samples/s, {flops / seconds / 1e12:.2f} TFLOP/s "
          f"of model FLOPs (last loss {loss.item():.4f})")


if __name__ == "__main__":
    main()
