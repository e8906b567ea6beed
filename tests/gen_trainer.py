"""gen_trainer.py — the trainer's test fixtures: a tiny random BERT checkpoint in Hugging Face
layout (a BertModel without a classification head, as all-MiniLM-L6-v2 is, so the trainer must
create the head) with its own 70-token vocab, and a small three-class data set that a model can
separate completely (each sentence names things of one topic among filler words).

Writes tests/fixtures/trainer/tiny-bert/{config.json,model.safetensors,vocab.txt} and
tests/fixtures/trainer/{train,dev,test}.tsv.     python3 tests/gen_trainer.py"""
import os
import random

import torch
from transformers import BertConfig, BertModel

here = os.path.join(os.path.dirname(__file__), "fixtures", "trainer")
model_dir = os.path.join(here, "tiny-bert")
os.makedirs(model_dir, exist_ok=True)

topics = {
    "animal": ["cat", "dog", "horse", "bird", "fish", "cow", "sheep", "goat"],
    "color": ["red", "blue", "green", "yellow", "purple", "orange", "black", "white"],
    "food": ["bread", "apple", "cheese", "rice", "soup", "cake", "pasta", "salad"],
}
fillers = ["the", "a", "i", "saw", "like", "and", "with", "some", "very", "this", "that", "is", "my", "of", "we", "see"]
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
words = sorted({w for ws in topics.values() for w in ws} | set(fillers))
pieces = ["##s", "##ing", "##ed", ".", ","]   # word pieces and punctuation the tokenizer will meet
vocab = specials + words + pieces
with open(os.path.join(model_dir, "vocab.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")

config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, pad_token_id=0)
torch.manual_seed(0)
model = BertModel(config)
model.save_pretrained(model_dir, safe_serialization=True)
with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
    f.write('{"do_lower_case": true, "model_max_length": 64}\n')

rng = random.Random(0)


def sentence(topic):
    ws = [rng.choice(fillers) for _ in range(rng.randint(2, 6))]
    for _ in range(rng.randint(1, 3)):
        ws.insert(rng.randint(0, len(ws)), rng.choice(topics[topic]))
    s = " ".join(ws)
    return (s[0].upper() + s[1:] + rng.choice(["", ".", " ."])).strip()


def write(name, n):
    with open(os.path.join(here, name), "w") as f:
        f.write("sentence\tlabel\n")
        for i in range(n):
            topic = sorted(topics)[i % 3]
            f.write(f"{sentence(topic)}\t{topic}\n")


write("train.tsv", 96)
write("dev.tsv", 30)
write("test.tsv", 12)
print("wrote", here)
