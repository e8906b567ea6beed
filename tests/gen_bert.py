"""gen_bert.py — reference values for the CPU BERT (common/model/bert.c) from Hugging Face transformers.
Writes tests/fixtures/bert/ (read by tests/test_bert.c):

  tiny/                 a random BertForSequenceClassification (2 layers, hidden 64, 4 heads,
                        3 labels, dropout 0) saved by save_pretrained: config.json, model.safetensors
  tiny_mixed/           the same encoder as BertModel: names without "bert.", F16 and BF16 tensors,
                        position_ids, no classifier (what real checkpoints look like)
  tiny.txt              a padded batch (ids, token types, mask, labels), its logits and loss, the
                        last hidden state of tiny_mixed, and the losses of 10 AdamW steps
  tiny_grads.safetensors  every parameter's gradient of that batch's mean loss
  minilm.txt            token ids + mask of 8 sentences (BertTokenizer of all-MiniLM-L6-v2)
  minilm_hidden.safetensors  their last hidden state from the real checkpoint

    python3 tests/gen_bert.py     # needs torch, transformers, safetensors
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer, get_scheduler

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "bert")
MINILM = os.path.join(HERE, "..", "data", "cache", "models", "all-MiniLM-L6-v2")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

# ---- the tiny model ---------------------------------------------------------------------------
config = BertConfig(vocab_size=50, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=128, max_position_embeddings=16, type_vocab_size=2,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.1,
                    num_labels=3, attn_implementation="eager")
model = BertForSequenceClassification(config).float()
# Randomize every tensor (LayerNorm weights around 1, biases around 0), so none can be ignored.
with torch.no_grad():
    for name, p in model.named_parameters():
        if "LayerNorm.weight" in name:
            p.copy_(1.0 + 0.2 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.copy_(0.1 * torch.randn_like(p))
        else:
            p.copy_(0.1 * torch.randn_like(p))
tiny_dir = os.path.join(OUT, "tiny")
shutil.rmtree(tiny_dir, ignore_errors=True)
model.save_pretrained(tiny_dir, safe_serialization=True)
init_state = {k: v.clone() for k, v in model.state_dict().items()}

# A padded batch: lengths 8, 5, 3; row 0 is a sentence pair (token types 0 then 1).
B, T = 3, 8
lengths = [8, 5, 3]
ids = torch.randint(1, config.vocab_size, (B, T))
mask = torch.zeros(B, T, dtype=torch.long)
types = torch.zeros(B, T, dtype=torch.long)
for b, n in enumerate(lengths):
    mask[b, :n] = 1
    ids[b, n:] = 0  # [PAD]
types[0, 4:] = 1
labels = torch.tensor([0, 2, 1])

model.eval()  # dropout is 0 anyway; eval makes it explicit
out = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels)
out.loss.backward()
grads = {name: p.grad.detach().clone().contiguous() for name, p in model.named_parameters()}
save_file(grads, os.path.join(OUT, "tiny_grads.safetensors"))
fix = {
    "shape": [B, T],
    "input_ids": ids.flatten().tolist(),
    "token_type_ids": types.flatten().tolist(),
    "attention_mask": mask.flatten().tolist(),
    "labels": labels.tolist(),
    "logits": out.logits.detach().flatten().tolist(),
    "loss": [out.loss.item()],
}

# ---- the same encoder as a "real" checkpoint: no prefix, F16/BF16, position_ids, no head -------
mixed_dir = os.path.join(OUT, "tiny_mixed")
shutil.rmtree(mixed_dir, ignore_errors=True)
os.makedirs(mixed_dir)
enc = BertModel(config, add_pooling_layer=True).float()
enc_state = {}
for i, (k, v) in enumerate(sorted((k[5:], v) for k, v in init_state.items() if k.startswith("bert."))):
    enc_state[k] = v.to(torch.float16 if i % 2 else torch.bfloat16)
enc_state["embeddings.position_ids"] = torch.arange(config.max_position_embeddings).unsqueeze(0)
save_file(enc_state, os.path.join(mixed_dir, "model.safetensors"), metadata={"format": "pt"})
cfg = json.loads(config.to_json_string())
cfg["architectures"] = ["BertModel"]
cfg.pop("id2label", None), cfg.pop("label2id", None)
with open(os.path.join(mixed_dir, "config.json"), "w") as f:
    json.dump(cfg, f, indent=2)
enc.load_state_dict({k: v.float() for k, v in enc_state.items() if k != "embeddings.position_ids"}, strict=False)
enc.eval()
with torch.no_grad():
    hidden = enc(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
fix["mixed_hidden"] = hidden.flatten().tolist()

# ---- 10 AdamW steps on the fixed batch: linear schedule with warmup, clipping, no-decay group --
STEPS, LR, WD, WARMUP, MAX_NORM = 10, 2e-4, 0.01, 2, 1.0
model.load_state_dict(init_state)
model.zero_grad()
decay = [p for n, p in model.named_parameters() if "bias" not in n and "LayerNorm" not in n]
no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
sched = get_scheduler("linear", opt, num_warmup_steps=WARMUP, num_training_steps=STEPS)
losses, norms = [], []
for step in range(STEPS):
    opt.zero_grad()
    loss = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels).loss
    loss.backward()
    norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM).item())
    opt.step()
    sched.step()
    losses.append(loss.item())
fix["train_config"] = [STEPS, LR, WD, WARMUP, MAX_NORM]
fix["train_losses"] = losses
fix["train_grad_norms"] = norms
write_fixture(os.path.join(OUT, "tiny.txt"), fix,
              header="gen_bert.py: tiny random BertForSequenceClassification, transformers "
                     f"{__import__('transformers').__version__}, torch {torch.__version__}")

# ---- the real all-MiniLM-L6-v2 on 8 sentences ------------------------------------------------
if os.path.isdir(MINILM):
    sentences = [
        "The movie was great!",
        "I did not like it at all.",
        "A quiet, thoughtful film.",
        "Worst plot ever.",
        "Café crème and naïve résumé.",
        "It's fine, I guess...",
        "Transformers use self-attention.",
        "Hello world",
    ]
    tok = BertTokenizer.from_pretrained(MINILM)
    enc_in = tok(sentences, padding=True, return_tensors="pt")
    real = BertModel.from_pretrained(MINILM, attn_implementation="eager").float().eval()
    with torch.no_grad():
        h = real(input_ids=enc_in["input_ids"], attention_mask=enc_in["attention_mask"]).last_hidden_state
    save_file({"last_hidden_state": h.contiguous()}, os.path.join(OUT, "minilm_hidden.safetensors"))
    write_fixture(os.path.join(OUT, "minilm.txt"), {
        "shape": list(enc_in["input_ids"].shape),
        "input_ids": enc_in["input_ids"].flatten().tolist(),
        "attention_mask": enc_in["attention_mask"].flatten().tolist(),
    }, header="gen_bert.py: all-MiniLM-L6-v2 last hidden state of 8 sentences\n" + "\n".join(sentences))
else:
    print(f"warning: {MINILM} not found; minilm fixtures not regenerated")
# ---- lesson 10's --logits_only interface: the tiny model with a vocabulary, texts -> logits ------
# A 50-token vocab.txt makes tiny/ a complete checkpoint directory; transformers' tokenizer and
# model give the logits that `10_bert_forward --logits_only < tiny_lines.txt` must print.
words = ["the", "a", "movie", "film", "was", "is", "good", "bad", "great", "not", "very", "plot", "acting",
         "i", "it", "and", "but", "fun", "dull", "love", "hate", "story", "!", ".", ",", "?", "'", "s",
         "##s", "##ly", "##ing", "##ed", "slow", "fast", "long", "short", "boring", "best", "worst", "ever",
         "this", "that", "so", "too", "much"]
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
assert len(vocab) == config.vocab_size
with open(os.path.join(tiny_dir, "vocab.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")
lines = ["The movie was great!", "Not good, very dull.", "I love this film", "boringly slow plots",
         "Worst acting ever?", "xyz unknown words", "", "It's so fun and the story is too long."]
with open(os.path.join(OUT, "tiny_lines.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
tiny_tok = BertTokenizer(os.path.join(tiny_dir, "vocab.txt"))
model.load_state_dict(init_state)
model.eval()
enc_lines = tiny_tok(lines, padding=True, truncation=True, max_length=config.max_position_embeddings,
                     return_tensors="pt")
with torch.no_grad():
    line_logits = model(**enc_lines).logits
write_fixture(os.path.join(OUT, "tiny_lines_logits.txt"), {
    "input_ids": enc_lines["input_ids"].flatten().tolist(),
    "logits": line_logits.flatten().tolist(),
}, header="gen_bert.py: logits of tiny/ on tiny_lines.txt (BertTokenizer + BertForSequenceClassification)")
print("wrote", OUT)
