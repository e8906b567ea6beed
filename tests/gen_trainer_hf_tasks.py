"""gen_trainer_hf_tasks.py — the Hugging Face Trainer's own numbers for the problem types and
the label smoothing that lesson 16's trainer must reproduce step for step (tests/test_trainer.c,
trainer/hf_tasks_lockstep):

  regression   float labels (a score per sentence), BertForSequenceClassification with one
               output: problem_type "regression", MSE on logits.squeeze()
  multi_label  a ','-joined list of classes per sentence, problem_type
               "multi_label_classification": BCE-with-logits on multi-hot float labels
  smoothing    the single-label run of gen_trainer_hf.py with label_smoothing_factor 0.1: the
               Trainer's LabelSmoother replaces the model's loss, in training and in evaluation

Each run is set up as gen_trainer_hf.py's (no dropout, the head in the checkpoint, each step the
whole training set in 2 accumulated micro-batches), so the two trainers share every number but
the order of float32 sums. The data are made here from train.tsv/dev.tsv: the score and the
multi-label sets are functions of the words, so a model can learn them.

Writes tests/fixtures/trainer/{reg,multi}_{train,dev}.tsv, tiny-bert-{reg,multi}/ and
hf_tasks_lockstep.txt.
    python3 tests/gen_trainer_hf_tasks.py      (needs torch, transformers, accelerate, scipy, scikit-learn)"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import scipy.stats
import sklearn.metrics
import torch
import transformers
from transformers import (BertForSequenceClassification, BertTokenizerFast, DataCollatorWithPadding, Trainer,
                          TrainingArguments)

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402
from gen_trainer_hf import FLAGS, accuracy, read_tsv  # noqa: E402

here = os.path.join(os.path.dirname(__file__), "fixtures", "trainer")
FIX = "tests/fixtures/trainer"  # as the test names the paths (it runs in the repository root)
WORDS = {"animal": {"bird", "cow", "horse", "goat", "dog", "cat", "sheep", "fish"},
         "color": {"blue", "green", "black", "yellow", "orange", "red", "white"},
         "food": {"salad", "rice", "cake", "apple", "bread", "soup", "pie"}}


def words(sentence):
    return [w.strip(".,").lower() for w in sentence.split()]


def score(sentence, label):
    """A float label: the class sets the level, the share of the class's words moves it."""
    w = words(sentence)
    share = sum(x in WORDS[label] for x in w) / len(w)
    return round({"animal": 1.0, "color": 2.5, "food": 4.0}[label] + 2 * share, 3)


def classes(sentence, label):
    """A multi-label set: the sentence's class, and "personal" when it says I, we or my."""
    return ",".join(sorted({label} | ({"personal"} if set(words(sentence)) & {"i", "we", "my"} else set())))


def write_tasks():
    for split in ("train", "dev"):
        text, labels = read_tsv(os.path.join(here, f"{split}.tsv"))
        for task, f in (("reg", score), ("multi", classes)):
            with open(os.path.join(here, f"{task}_{split}.tsv"), "w", encoding="utf-8") as out:
                out.write("sentence\tlabel\n")
                for t, l in zip(text, labels):
                    out.write(f"{t}\t{f(t, l)}\n")


class Encoded(torch.utils.data.Dataset):
    def __init__(self, tok, path, encode_label):
        text, labels = read_tsv(path)
        self.enc = tok(text, truncation=True, max_length=FLAGS["max_seq_length"])
        self.labels = [encode_label(l) for l in labels]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {**{k: v[i] for k, v in self.enc.items()}, "labels": self.labels[i]}


def make_checkpoint(dst, names, problem_type):
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        os.path.join(here, "tiny-bert"), num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, problem_type=problem_type, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    shutil.rmtree(dst, ignore_errors=True)
    model.save_pretrained(dst, safe_serialization=True)
    for f in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(here, "tiny-bert", f), dst)
    with open(os.path.join(dst, "config.json")) as f:  # lesson 16 infers it from the labels, as transformers
        config = f.read()
    if problem_type is None:
        assert '"problem_type"' not in config
    return dst


def regression_metrics(pred):
    p, y = pred.predictions.squeeze(-1), pred.label_ids
    return {"mse": float(((p - y) ** 2).mean()), "pearson": float(scipy.stats.pearsonr(p, y)[0]),
            "spearmanr": float(scipy.stats.spearmanr(p, y)[0])}


def multi_label_metrics(pred):
    p, y = (pred.predictions > 0).astype(int), pred.label_ids.astype(int)
    return {"micro_f1": sklearn.metrics.f1_score(y, p, average="micro", zero_division=0),
            "macro_f1": sklearn.metrics.f1_score(y, p, average="macro", zero_division=0),
            "subset_accuracy": sklearn.metrics.accuracy_score(y, p)}


def train(model_dir, train_file, dev_file, encode_label, metrics, extra, accepts_loss_kwargs):
    tok = BertTokenizerFast(os.path.join(model_dir, "vocab.txt"), do_lower_case=True)
    train_set, dev_set = (Encoded(tok, os.path.join(here, f), encode_label) for f in (train_file, dev_file))
    model = BertForSequenceClassification.from_pretrained(model_dir)
    flags = {k: v for k, v in FLAGS.items() if k != "max_seq_length"}
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, logging_steps=1, eval_strategy="epoch", save_strategy="no",
                                 report_to="none", use_cpu=True, seed=0, disable_tqdm=True, **flags, **extra)
        trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=dev_set,
                          data_collator=DataCollatorWithPadding(tok), compute_metrics=metrics)
        if not accepts_loss_kwargs:
            # The model's own loss is a plain mean per micro-batch: without this switch transformers 5
            # trains on the SUM of the micro-batch losses (see gen_trainer_hf.py). With label smoothing
            # the LabelSmoother divides by the group's label count itself, so the default is right.
            trainer.model_accepts_loss_kwargs = False
        result = trainer.train()
        hist = list(trainer.state.log_history)
        # run_glue.py's files: what output_dir holds after training and evaluating
        trainer.save_metrics("train", {**result.metrics, "train_samples": len(train_set)})
        trainer.save_metrics("eval", {**trainer.evaluate(), "eval_samples": len(dev_set)})
        trainer.save_state()
        files = {}
        for name in ("trainer_state", "train_results", "eval_results", "all_results"):
            with open(os.path.join(out, f"{name}.json")) as f:
                files[name] = sorted(json.load(f))
    steps = [h for h in hist if "loss" in h and "step" in h and "train_runtime" not in h]
    evals = [h for h in hist if "eval_loss" in h]
    assert len(steps) == 12 and len(evals) == 12, hist
    argv = ["--model_name_or_path", f"{FIX}/{os.path.basename(model_dir)}", "--train_file", f"{FIX}/{train_file}",
            "--validation_file", f"{FIX}/{dev_file}"]
    argv += [w for k, v in {**FLAGS, **extra}.items() for w in (f"--{k}", str(v))]
    out = {"flags": argv, "loss": [h["loss"] for h in steps], "grad_norm": [h["grad_norm"] for h in steps],
           "eval_loss": [h["eval_loss"] for h in evals]}
    for key in evals[0]:
        if key.startswith("eval_") and key not in out and not key.endswith(("runtime", "per_second")):
            out[key] = [h[key] for h in evals]
    out["train_loss"] = [result.training_loss]  # TrainOutput.training_loss, also the last log entry's
    out.update({f"{name}.keys": keys for name, keys in files.items()})
    out["config"] = [str(trainer.model.config.problem_type)]  # None: the model never saw the labels
    return out


def main():
    write_tasks()
    runs = {}
    reg = make_checkpoint(os.path.join(here, "tiny-bert-reg"), ["LABEL_0"], None)
    runs["regression"] = train(reg, "reg_train.tsv", "reg_dev.tsv", float, regression_metrics, {}, False)
    names = sorted({n for l in read_tsv(os.path.join(here, "multi_train.tsv"))[1] for n in l.split(",")})
    multi = make_checkpoint(os.path.join(here, "tiny-bert-multi"), names, "multi_label_classification")
    runs["multi_label"] = train(multi, "multi_train.tsv", "multi_dev.tsv",
                                lambda l: [float(n in l.split(",")) for n in names], multi_label_metrics, {}, False)
    cls_names = sorted(set(read_tsv(os.path.join(here, "train.tsv"))[1]))
    runs["smoothing"] = train(os.path.join(here, "tiny-bert-cls"), "train.tsv", "dev.tsv",
                              {n: i for i, n in enumerate(cls_names)}.get, accuracy, {"label_smoothing_factor": 0.1},
                              True)
    arrays = {f"{run}.{k}": v for run, out in runs.items() for k, v in out.items()}
    write_fixture(os.path.join(here, "hf_tasks_lockstep.txt"), arrays, header=f"""gen_trainer_hf_tasks.py: the Hugging Face Trainer (transformers {transformers.__version__}, torch {torch.__version__},
CPU): a regression, a multi-label and a label-smoothing run on tiny data, without dropout, each step the
whole training set. <run>.flags are lesson 16's flags for the same run; <run>.config the problem_type
the trained model's config.json holds. One value per optimizer step (loss, grad_norm) and per epoch (eval_*).""")
    for run, out in runs.items():
        print(run, {k: v[-1] for k, v in out.items() if k != "flags"})


if __name__ == "__main__":
    main()
