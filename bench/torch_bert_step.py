#!/usr/bin/env python3
"""bench/torch_bert_step.py — one BERT training step in PyTorch on this GPU, the named baseline
that lesson 13's GPU step is read against (bench/gpu_quick.sh and bench/gpu.sh run both in the same session).

    python3 bench/torch_bert_step.py --shape bert-base --batch 32 --seq 128 [--precision P] [--compile]

--precision: fp32 (TF32 off), tf32 (matmuls in TF32), bf16 (torch.autocast("cuda", bfloat16)
around the forward and loss; fp32 parameters, gradients and AdamW state) or fp16 (autocast in
float16 plus torch.amp.GradScaler: scale(loss).backward(), unscale_ before clipping, step,
update), the recipe Hugging Face Trainer runs for --bf16 / --fp16. --compile: the model wrapped
in torch.compile (mode "default"; forward and backward compiled through AOTAutograd), compiled
during the warm-up steps, which are not timed.

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
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16", "fp16"], default="fp32",
                    help="fp32 (TF32 off), tf32 matmuls, or autocast bf16 / fp16 + GradScaler")
    ap.add_argument("--compile", action="store_true", help="torch.compile(model), mode default")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device found: torch.cuda.is_available() is False; nothing was timed")
        return
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
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

    params = list(model.parameters())
    run = torch.compile(model) if a.compile else model
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    scaler = torch.amp.GradScaler("cuda") if a.precision == "fp16" else None

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = run(input_ids=ids, attention_mask=mask, labels=labels).loss
        if scaler is None:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(opt)  # skipped when the gradients hold inf/NaN
            scaler.update()
        return loss

    for _ in range(max(a.warmup, 3 if a.compile else 0)):  # compilation happens in the first calls
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / a.steps
    print(f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
          f"attention {getattr(model.config, '_attn_implementation', 'default')}, on {torch.cuda.get_device_name(0)}")
    what = {"fp32": "float32 (TF32 off)", "tf32": "TF32", "bf16": "autocast bf16",
            "fp16": "autocast fp16 + GradScaler"}[a.precision]
    print(f"shape {a.shape}: {L} layers, hidden {C}, {NH} heads, intermediate {I}; batch {B} x {T}; "
          f"{what}{', torch.compile' if a.compile else ', eager'}; warm-up, then the mean of {a.steps}")
    flops = step_flops(B, T, L, C, I)
    print(f"PyTorch {'compiled' if a.compile else 'eager'} step: {seconds * 1e3:.2f} ms, {B / seconds:.1f} samples/s, {flops / seconds / 1e12:.2f} TFLOP/s "
          f"of model FLOPs (last loss {loss.item():.4f})")


if __name__ == "__main__":
    main()
