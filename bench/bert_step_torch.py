"""bert_step_torch.py — the baseline for bench/bert_step.c: one training step of
BertForSequenceClassification in PyTorch on the CPU (forward with dropout, backward, clipping,
AdamW), same model, batch and thread count. Prints seconds per step: wall clock, then CPU time."""
import argparse
import time

import torch
from transformers import BertForSequenceClassification
from transformers.utils import logging

p = argparse.ArgumentParser()
p.add_argument("--model_name_or_path", default="data/cache/models/all-MiniLM-L6-v2")
p.add_argument("--per_device_train_batch_size", type=int, default=32)
p.add_argument("--max_seq_length", type=int, default=64)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--threads", type=int, required=True)
a = p.parse_args()
torch.set_num_threads(a.threads)
logging.set_verbosity_error()
torch.manual_seed(0)
model = BertForSequenceClassification.from_pretrained(a.model_name_or_path, num_labels=2).train()
B, T = a.per_device_train_batch_size, a.max_seq_length
ids = torch.randint(1000, model.config.vocab_size, (B, T))
ids[:, 0] = 101
labels = torch.randint(0, 2, (B,))
opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
total = cpu = 0.0
for s in range(a.warmup + a.steps):
    t0, c0 = time.perf_counter(), time.process_time()
    opt.zero_grad()
    loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if s >= a.warmup:
        total += time.perf_counter() - t0
        cpu += time.process_time() - c0
print(f"{total / a.steps:.4f} {cpu / a.steps:.4f}")  # seconds per step: wall clock, CPU time of all threads
