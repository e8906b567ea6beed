"""gen_schedules.py — reference values for common/train/schedule.c and common/train/steps.c from the Hugging
Face code itself: transformers' get_scheduler for every schedule, and the Trainer's own
set_initial_training_values, get_warmup_steps and DefaultFlowCallback for a grid of runs.
Writes tests/fixtures/schedules/schedules.txt (read by tests/test_schedule.c).

    python3 tests/gen_schedules.py     # needs torch, transformers, accelerate
"""
import itertools
import json
import os
import sys
import tempfile

import torch
import transformers
from torch.utils.data import DataLoader
from transformers import (BertConfig, BertForSequenceClassification, Trainer, TrainerControl, TrainerState,
                          TrainingArguments, get_scheduler)
from transformers.trainer_callback import DefaultFlowCallback

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

SCRATCH = tempfile.TemporaryDirectory()  # the Trainer's output_dir; it writes nothing there

out = {}
LR = 2e-5
# (warmup steps, total steps): lesson 03's table, no warmup, odd sizes. (Warmup from a ratio is
# the Trainer's get_warmup_steps, checked in the grid below.)
cases = [(100, 1000), (0, 50), (7, 23)]
names = ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt"]
sched_cases = []
for name in names:
    for warmup, total in cases:
        w = warmup
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
        s = get_scheduler(name, opt, num_warmup_steps=w, num_training_steps=total)
        lrs = []
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
        key = f"lr_{name}_w{w}_t{total}"
        out[key] = lrs
        sched_cases.append(key)
out["schedule_cases"] = sched_cases

# transformers 5's schedules that take lr_scheduler_kwargs (the Trainer passes
# TrainingArguments.lr_scheduler_kwargs to get_scheduler as scheduler_specific_kwargs).
# kw_<i>_spec: name, W, T and the kwargs as compact JSON; kw_<i>: the lr of every step.
kw_cases = [("cosine_with_min_lr", 100, 1000, {"min_lr_rate": 0.1}),
            ("cosine_with_min_lr", 7, 23, {"min_lr": 1e-6}),
            ("cosine_with_min_lr", 0, 50, {"min_lr_rate": 0.05, "num_cycles": 1.5}),
            ("warmup_stable_decay", 100, 1000, {"num_decay_steps": 200}),
            ("warmup_stable_decay", 7, 23, {"num_decay_steps": 5, "decay_type": "linear", "min_lr_ratio": 0.1}),
            ("warmup_stable_decay", 10, 60, {"num_decay_steps": 20, "num_stable_steps": 10, "warmup_type": "cosine",
                                             "decay_type": "1-sqrt", "min_lr_ratio": 0.2}),
            ("warmup_stable_decay", 10, 60, {"num_decay_steps": 30, "warmup_type": "1-sqrt"}),
            ("cosine", 10, 60, {"num_cycles": 0.25}),
            ("polynomial", 10, 60, {"power": 2.0, "lr_end": 1e-6})]
for i, (name, w, total, kwargs) in enumerate(kw_cases):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    s = get_scheduler(name, opt, num_warmup_steps=w, num_training_steps=total, scheduler_specific_kwargs=kwargs)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    out[f"kw_{i}_spec"] = [name, str(w), str(total), json.dumps(kwargs, separators=(",", ":"))]
    out[f"kw_{i}"] = lrs
out["kw_cases"] = [len(kw_cases)]

# The Trainer's step arithmetic: a real Trainer (tiny BERT) asked the questions it asks itself.
model = BertForSequenceClassification(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=8))
trainer = Trainer(model=model, args=TrainingArguments(output_dir=SCRATCH.name, report_to=[]))
grid = []
for n, b, acc, epochs, drop, max_steps, ratio in itertools.product(
        [9000, 200, 31], [16, 6], [1, 32, 3], [5.0, 2.5], [False, True], [-1, 700], [0.1, 0.0, 0.05, 7, 2.5]):
    args = TrainingArguments(output_dir=SCRATCH.name, report_to=[], per_device_train_batch_size=b,
                             gradient_accumulation_steps=acc, num_train_epochs=epochs, dataloader_drop_last=drop,
                             max_steps=max_steps, warmup_steps=ratio, eval_strategy="steps", eval_steps=200,
                             save_strategy="steps", save_steps=200, logging_steps=50)
    loader = DataLoader(list(range(n)), batch_size=b, drop_last=drop)
    if len(loader) == 0:
        continue
    trainer.args, trainer._train_batch_size = args, args.train_batch_size  # as Trainer.train() sets them
    (num_epochs, upe, _, _, total_batch, steps_in_epoch, total) = trainer.set_initial_training_values(args, loader)
    warmup = args.get_warmup_steps(total)
    state = TrainerState(max_steps=total, eval_steps=args.eval_steps, save_steps=args.save_steps,
                         logging_steps=args.logging_steps)
    flow, evals, saves, logs = DefaultFlowCallback(), 0, 0, 0
    for step in range(1, total + 1):
        state.global_step = step
        control = flow.on_step_end(args, state, TrainerControl())
        evals += control.should_evaluate
        saves += control.should_save
        logs += control.should_log
    grid.append([n, b, acc, epochs, int(drop), max_steps, ratio, steps_in_epoch, upe, total, num_epochs, warmup,
                 total_batch, evals, saves, logs])
out["grid_columns"] = ["examples", "batch", "accumulation", "epochs", "drop_last", "max_steps", "warmup_steps",
                       "batches_per_epoch", "updates_per_epoch", "total_steps", "epochs_run", "warmup", "effective_batch",
                       "evaluations", "saves", "logs"]
out["grid_rows"] = [len(grid)]
for i, row in enumerate(grid):
    out[f"grid_{i}"] = row

os.makedirs(os.path.join(os.path.dirname(__file__), "fixtures", "schedules"), exist_ok=True)
write_fixture(os.path.join(os.path.dirname(__file__), "fixtures", "schedules", "schedules.txt"), out,
              header=f"generated by tests/gen_schedules.py with transformers {transformers.__version__}, torch {torch.__version__}")
print(f"wrote tests/fixtures/schedules/schedules.txt ({len(sched_cases)} schedules, {len(grid)} step-arithmetic runs)")
