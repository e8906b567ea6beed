"""hf_trainer_sst2.py — the named baseline for `make run`: the Hugging Face Trainer fine-tuning the
same checkpoint on the same SST-2 files with the same hyper-parameters as scripts/run_main.sh
(lesson 16). bench/gpu.sh (section 'trainer') runs the full recipe on the GPU;
bench/trainer_vs_hf_cpu.sh runs the CPU budget recipe beside lesson 16 on the CPU.

  python3 bench/hf_trainer_sst2.py [--recipe full|budget] [--seed 42] [--max_steps N]

Both recipes (scripts/run_main.sh): all-MiniLM-L6-v2 + a new 2-way head, dynamic padding,
lr linear with warmup_ratio 0.1, weight_decay 0.01, AdamW (betas 0.9/0.999, eps 1e-8),
max_grad_norm 1.0, eval batch 64, evaluation and a checkpoint each epoch (save_total_limit 2),
the best by accuracy loaded at the end; fp32 (TF32 off).
  full   (GPU): all 67,349 sentences, max_seq_length 128, 3 epochs, batch 32, lr 2e-5
  budget (CPU): the first 8,000 sentences (MAX_TRAIN_SAMPLES), max_seq_length 64, 1 epoch,
                batch 16, lr 1e-4
Prints one line: seed, dev accuracy of the final model, training wall time, steps.
Needs torch, transformers and accelerate (transformers' Trainer requires it: pip install 'transformers[torch]').
"""
import argparse
import csv
import os
import tempfile
import time

import numpy as np
import torch
from transformers import (AutoTokenizer, BertForSequenceClassification, DataCollatorWithPadding, Trainer,
                          TrainingArguments)

MODEL = "data/cache/models/all-MiniLM-L6-v2"
RECIPES = {
    "full": dict(max_train_samples=None, max_seq_length=128, num_train_epochs=3, batch=32, learning_rate=2e-5,
                 logging_steps=100, use_cpu=False),
    "budget": dict(max_train_samples=int(os.environ.get("MAX_TRAIN_SAMPLES", 8000)), max_seq_length=64,
                   num_train_epochs=1, batch=16, learning_rate=1e-4, logging_steps=10, use_cpu=True),
}


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


class Encoded(torch.utils.data.Dataset):
    def __init__(self, tok, path, max_length, max_samples=None):
        text, labels = read_tsv(path)
        text, self.labels = text[:max_samples], labels[:max_samples]  # the FIRST n rows, as --max_train_samples
        self.enc = tok(text, truncation=True, max_length=max_length)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        item = {k: v[i] for k, v in self.enc.items()}
        item["labels"] = self.labels[i]
        return item


def accuracy(pred):
    return {"accuracy": float((np.argmax(pred.predictions, axis=-1) == pred.label_ids).mean())}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max_steps", type=int, default=-1, help="stop after N optimizer steps (-1: 3 full epochs)")
    p.add_argument("--recipe", choices=RECIPES, default="full", help="scripts/run_main.sh's GPU or CPU recipe")
    a = p.parse_args()
    r = RECIPES[a.recipe]
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 products, as lesson 16's GPU backend
    torch.backends.cudnn.allow_tf32 = False
    tok = AutoTokenizer.from_pretrained(MODEL)
    train = Encoded(tok, "data/cache/sst2/train.tsv", r["max_seq_length"], r["max_train_samples"])
    dev = Encoded(tok, "data/cache/sst2/dev.tsv", r["max_seq_length"])
    model = BertForSequenceClassification.from_pretrained(MODEL, num_labels=2)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, seed=a.seed, max_steps=a.max_steps, num_train_epochs=r["num_train_epochs"],
            per_device_train_batch_size=r["batch"], per_device_eval_batch_size=64, learning_rate=r["learning_rate"],
            warmup_steps=0.1,  # a float < 1: a ratio (transformers 5)
            weight_decay=0.01, lr_scheduler_type="linear", max_grad_norm=1.0, logging_steps=r["logging_steps"],
            eval_strategy="epoch", save_strategy="epoch", save_total_limit=2, load_best_model_at_end=True,
            metric_for_best_model="accuracy", report_to="none", use_cpu=r["use_cpu"],
            dataloader_num_workers=0 if r["use_cpu"] else 2)  # on the CPU, workers would take the training cores
        trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                          data_collator=DataCollatorWithPadding(tok), compute_metrics=accuracy)
        start = time.time()
        result = trainer.train()
        wall = time.time() - start
        ev = trainer.evaluate()
    print(f"HF Trainer seed {a.seed}: eval_accuracy {ev['eval_accuracy']:.4f}  train wall {wall:.1f} s  "
          f"steps {result.global_step}  device {'cpu' if r['use_cpu'] else torch.cuda.get_device_name(0)}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
