"""check_hf_roundtrip.py — does transformers load the trainer's output_dir and compute the same
logits the trainer wrote into predictions.tsv? (Needs torch + transformers; the C test
trainer::saved_model_reloads_with_identical_logits checks the C reload without Python.)

    python tests/check_hf_roundtrip.py OUTPUT_DIR TEST_FILE [PREDICTIONS_TSV] [--max_seq_length N]

TEST_FILE is the TSV/CSV given to `16_trainer --test_file` (column "sentence");
PREDICTIONS_TSV defaults to OUTPUT_DIR/predictions.tsv. Exits 1 when a logit differs by more
than 1e-4 (fp32 on two implementations: the C sums in another order than PyTorch)."""
import argparse
import csv
import sys

import torch
from transformers import BertForSequenceClassification, BertTokenizer

ap = argparse.ArgumentParser()
ap.add_argument("output_dir")
ap.add_argument("test_file")
ap.add_argument("predictions", nargs="?")
ap.add_argument("--max_seq_length", type=int, default=128)
ap.add_argument("--text_column", default="sentence")
args = ap.parse_args()

delim = "," if args.test_file.endswith(".csv") else "\t"
with open(args.test_file, newline="") as f:
    rows = list(csv.DictReader(f, delimiter=delim, quoting=csv.QUOTE_MINIMAL if delim == "," else csv.QUOTE_NONE))
texts = [r[args.text_column] for r in rows]
with open(args.predictions or f"{args.output_dir}/predictions.tsv") as f:
    pred = list(csv.DictReader(f, delimiter="\t"))

model = BertForSequenceClassification.from_pretrained(args.output_dir).eval()
tok = BertTokenizer.from_pretrained(args.output_dir)
names = [model.config.id2label[i] for i in range(model.config.num_labels)]
ours = torch.tensor([[float(p[f"logit_{n}"]) for n in names] for p in pred])
with torch.no_grad():
    enc = tok(texts, truncation=True, max_length=args.max_seq_length, padding=True, return_tensors="pt")
    theirs = model(**enc).logits
diff = (ours - theirs).abs().max().item()
same_labels = sum(names[int(i)] == p["label"] for i, p in zip(theirs.argmax(-1), pred))
print(f"{len(texts)} rows, {len(names)} classes ({', '.join(names)}): max |logit difference| = {diff:.3g}, "
      f"same predicted label on {same_labels}/{len(texts)}")
sys.exit(0 if diff <= 1e-4 and same_labels == len(texts) else 1)
