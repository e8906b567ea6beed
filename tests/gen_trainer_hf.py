"""gen_trainer_hf.py — the Hugging Face Trainer's own numbers for a run that lesson 16's trainer
must reproduce step for step (tests/test_trainer.c, trainer/hf_trainer_lockstep).

Two trainers agree on a run only where chance plays no part, so this run has none:
  - no dropout (the config's three dropout rates are 0);
  - the classification head is in the checkpoint (tests/fixtures/trainer/tiny-bert-cls, made
    here from tiny-bert with torch.manual_seed(0)), so neither trainer draws one;
  - each optimizer step sees the whole training set (96 sentences = 2 micro-batches of 48,
    gradient_accumulation_steps 2), so the shuffled order changes only the order of a sum.
What it exercises is every piece of arithmetic between the data and the weights: the warmup
and linear decay (warmup_steps 2 of 6), which learning rate an update uses and which one is
logged, AdamW with the no-decay group (weight_decay 0.1 makes it matter), the 1/accumulation
scaling of the loss, the global-norm clipping (max_grad_norm 0.5, below the norms logged) and
the evaluation each epoch.

A second run, hf_lockstep_sgd.txt, changes what transformers 5 added or renamed: --optim sgd with
--optim_args momentum=0.9,nesterov=True, the cosine_with_min_lr schedule with lr_scheduler_kwargs
{"min_lr_rate":0.1}, warmup_steps 0.25 as a ratio of the total steps, and eval_on_start.

Writes tests/fixtures/trainer/tiny-bert-cls/, tests/fixtures/trainer/hf_lockstep.txt and
tests/fixtures/trainer/hf_lockstep_sgd.txt.
    python3 tests/gen_trainer_hf.py      (needs torch, transformers, accelerate)"""
import csv
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import transformers
from transformers import (BertForSequenceClassification, BertTokenizerFast, DataCollatorWithPadding, Trainer,
                          TrainingArguments)

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

here = os.path.join(os.path.dirname(__file__), "fixtures", "trainer")
src, dst = os.path.join(here, "tiny-bert"), os.path.join(here, "tiny-bert-cls")
# The run's flags, also the ones test_trainer.c passes to lesson 16 (it reads them from the fixture).
FLAGS = dict(per_device_train_batch_size=48, gradient_accumulation_steps=2, num_train_epochs=12, learning_rate=1e-2,
             warmup_steps=3, lr_scheduler_type="linear", weight_decay=0.1, max_grad_norm=0.05,
             per_device_eval_batch_size=30, max_seq_length=64)
FLAGS_SGD = dict(FLAGS, learning_rate=4.0, warmup_steps=0.25, max_grad_norm=0.02, optim="sgd", optim_args="momentum=0.9,nesterov=True",
                 lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs='{"min_lr_rate":0.1}', eval_on_start=True)


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows], [r["label"] for r in rows]


class Encoded(torch.utils.data.Dataset):
    def __init__(self, tok, path, label_ids):
        text, labels = read_tsv(path)
        self.enc, self.labels = tok(text, truncation=True, max_length=FLAGS["max_seq_length"]), [label_ids[l] for l in labels]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {**{k: v[i] for k, v in self.enc.items()}, "labels": self.labels[i]}


def accuracy(pred):
    return {"accuracy": float((np.argmax(pred.predictions, axis=-1) == pred.label_ids).mean())}


def make_checkpoint(names):
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        src, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    shutil.rmtree(dst, ignore_errors=True)
    model.save_pretrained(dst, safe_serialization=True)
    for f in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, f), dst)


def main():
    names = sorted(set(read_tsv(os.path.join(here, "train.tsv"))[1]))  # as common/text/dataset.c: sorted names
    make_checkpoint(names)
    tok = BertTokenizerFast(os.path.join(dst, "vocab.txt"), do_lower_case=True)
    label_ids = {n: i for i, n in enumerate(names)}
    train, dev = (Encoded(tok, os.path.join(here, f), label_ids) for f in ("train.tsv", "dev.tsv"))
    lockstep(FLAGS, "hf_lockstep.txt", tok, train, dev)
    lockstep(FLAGS_SGD, "hf_lockstep_sgd.txt", tok, train, dev)


def lockstep(FLAGS, fixture, tok, train, dev):
    model = BertForSequenceClassification.from_pretrained(dst)
    flags = {k: v for k, v in FLAGS.items() if k != "max_seq_length"}
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, logging_steps=1, eval_strategy="epoch", save_strategy="no",
                                 report_to="none", use_cpu=True, seed=0, disable_tqdm=True, **flags)
        trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                          data_collator=DataCollatorWithPadding(tok), compute_metrics=accuracy)
        # transformers 5 takes any forward(**kwargs) as a sign that the model divides its loss by
        # the group's item count itself, and then skips the division by gradient_accumulation_steps.
        # BertForSequenceClassification takes **kwargs but ignores that count (its loss is a plain
        # mean), so the Trainer trains on the SUM of the micro-batch losses: gradients and logged
        # loss gradient_accumulation_steps times too large (huggingface/transformers issue 47688).
        # Lesson 16 uses the group's mean, which is what this documented switch restores.
        trainer.model_accepts_loss_kwargs = False
        trainer.train()
    hist = trainer.state.log_history
    steps = [h for h in hist if "loss" in h and "step" in h and "train_runtime" not in h]
    evals = [h for h in hist if "eval_loss" in h]
    assert len(steps) == 12 and len(evals) == 12 + FLAGS.get("eval_on_start", False), hist
    clipped = sum(h["grad_norm"] > FLAGS["max_grad_norm"] for h in steps)
    assert 0 < clipped < len(steps), f"clipping should act on some steps, not all: {clipped} of {len(steps)}"
    write_fixture(os.path.join(here, fixture), {
        "flags": [w for k, v in FLAGS.items() for w in (f"--{k}", str(v))],
        "loss": [h["loss"] for h in steps],
        "grad_norm": [h["grad_norm"] for h in steps],
        "learning_rate": [h["learning_rate"] for h in steps],
        "eval_loss": [h["eval_loss"] for h in evals],
        "eval_accuracy": [h["eval_accuracy"] for h in evals],
    }, header=f"""gen_trainer_hf.py: the Hugging Face Trainer (transformers {transformers.__version__}, torch {torch.__version__},
CPU) on tiny-bert-cls and train.tsv/dev.tsv, without dropout, each step the whole training set.
One value per optimizer step (loss, grad_norm before clipping, learning_rate as logged) and per epoch (eval).""")
    for h in steps:
        print(h)


if __name__ == "__main__":
    main()
