"""gen_optim.py — reference values for common/train/optim.c and common/model/loss.c from PyTorch and the
Hugging Face Trainer. Writes tests/fixtures/optim/optim.txt (read by tests/test_optim.c).

    python3 tests/gen_optim.py      # needs torch and transformers (tests/requirements.txt)
"""
import os
import sys
import tempfile

import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

SCRATCH = tempfile.TemporaryDirectory()  # the Trainer's output_dir; it writes nothing there

torch.manual_seed(0)
out = {}
STEPS = 6
LRS = [1e-3 * (1 + k) for k in range(STEPS)]  # a changing lr, as a schedule would give

# Two tensors, as the C test builds them: "weight" (3,4) decays, "bias" (3) does not.
w0, b0 = torch.randn(3, 4), torch.randn(3)
grads = [(torch.randn(3, 4), torch.randn(3)) for _ in range(STEPS)]
out["init"] = torch.cat([w0.flatten(), b0]).tolist()
out["grads"] = torch.cat([torch.cat([gw.flatten(), gb]) for gw, gb in grads]).tolist()
out["lrs"] = LRS


def trajectory(make_opt):
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    opt = make_opt(w, b)
    traj = []
    for (gw, gb), lr in zip(grads, LRS):
        for g in opt.param_groups:
            g["lr"] = lr
        w.grad, b.grad = gw.clone(), gb.clone()
        opt.step()
        traj += torch.cat([w.detach().flatten(), b.detach()]).tolist()
    return traj


def groups(w, b, wd):
    return [{"params": [w], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}]


WD = 0.1
out["sgd"] = trajectory(lambda w, b: torch.optim.SGD(groups(w, b, WD), lr=0.0, foreach=False))
out["momentum"] = trajectory(lambda w, b: torch.optim.SGD(groups(w, b, WD), lr=0.0, momentum=0.9, foreach=False))
out["adam"] = trajectory(lambda w, b: torch.optim.Adam(groups(w, b, WD), lr=0.0, foreach=False))
out["adamw"] = trajectory(lambda w, b: torch.optim.AdamW(groups(w, b, WD), lr=0.0, foreach=False))

# --optim sgd --optim_args "momentum=0.9,nesterov=True" (and dampening): the optimizer the Trainer
# builds (get_optimizer_cls_and_kwargs), run on the same gradients. Without optim_args the Trainer
# passes lr only: torch's momentum 0.
OPTIM_ARGS = {"sgd_hf": None, "sgd_nesterov": "momentum=0.9,nesterov=True", "sgd_dampening": "momentum=0.9, dampening=0.5"}
for key, optim_args in OPTIM_ARGS.items():
    cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(TrainingArguments(output_dir=SCRATCH.name, report_to=[],
                                                                         optim="sgd", optim_args=optim_args))
    assert cls is torch.optim.SGD, cls
    kwargs = {k: v for k, v in kwargs.items() if k != "lr"}
    out[key] = trajectory(lambda w, b: cls(groups(w, b, WD), lr=0.0, foreach=False, **kwargs))
    out[key + "_optim_args"] = [optim_args.replace(" ", "") if optim_args else "none"]
cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(TrainingArguments(output_dir=SCRATCH.name, report_to=[],
                                                                     optim="adamw_torch_fused"))
assert cls is torch.optim.AdamW and kwargs["betas"] == (0.9, 0.999) and kwargs["eps"] == 1e-8, (cls, kwargs)

# clip_grad_norm_: one gradient set far above max_norm 1.0, one below it.
for name, s in (("big", 3.0), ("small", 0.05)):
    gw, gb = s * torch.randn(3, 4), s * torch.randn(3)
    w, b = torch.zeros(3, 4, requires_grad=True), torch.zeros(3, requires_grad=True)
    w.grad, b.grad = gw.clone(), gb.clone()
    norm = torch.nn.utils.clip_grad_norm_([w, b], max_norm=1.0)
    out[f"clip_{name}_in"] = torch.cat([gw.flatten(), gb]).tolist()
    out[f"clip_{name}_norm"] = [norm.item()]
    out[f"clip_{name}_out"] = torch.cat([w.grad.flatten(), b.grad]).tolist()

# Cross-entropy: mean loss and dloss/dlogits for a (5,4) batch.
logits = (4 * torch.randn(5, 4)).requires_grad_()
labels = torch.tensor([0, 3, 1, 1, 2])
loss = torch.nn.functional.cross_entropy(logits, labels)
loss.backward()
out["ce_logits"] = logits.detach().flatten().tolist()
out["ce_labels"] = labels.tolist()
out["ce_loss"] = [loss.item()]
out["ce_dlogits"] = logits.grad.flatten().tolist()

# The Trainer's own decay / no-decay split on a BERT classifier's parameter names.
model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=16, num_labels=2))
trainer = Trainer(model=model, args=TrainingArguments(output_dir=SCRATCH.name, report_to=[]))
decay = set(trainer.get_decay_parameter_names(model))
names = [n for n, _ in model.named_parameters()]
out["decay_names"] = [n for n in names if n in decay]
out["no_decay_names"] = [n for n in names if n not in decay]

os.makedirs(os.path.join(os.path.dirname(__file__), "fixtures", "optim"), exist_ok=True)
write_fixture(os.path.join(os.path.dirname(__file__), "fixtures", "optim", "optim.txt"), out,
              header=f"generated by tests/gen_optim.py with torch {torch.__version__}, "
                     f"transformers {transformers.__version__}")
print("wrote tests/fixtures/optim/optim.txt")
