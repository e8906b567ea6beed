// bert_io.h — the BERT of common/model/bert.h in and out of Hugging Face's files: config.json,
// the weights of a checkpoint directory (model.safetensors, under transformers' tensor names),
// and the directory save_pretrained writes, which transformers loads back.
// Introduced by lesson 10 (bert_forward: loading a checkpoint) and lesson 11 (bert_training_cpu:
// saving the fine-tuned model); every later BERT program loads through it, the trainer (lesson 16)
// saves through it.
//
// Names: the model's tensors are named as BertForSequenceClassification names them
// ("bert.encoder.layer.3.attention.self.query.weight", "classifier.bias"; bert.h). A checkpoint
// may store them without the "bert." prefix (a BertModel checkpoint, e.g. a sentence-transformers
// model) and, when converted from TensorFlow long ago, with LayerNorm.gamma/beta for
// LayerNorm.weight/bias; the loader accepts all three spellings and saves the first.
#pragma once
#include <stdint.h>

#include "common/model/bert.h"

// bert_config_load: read DIR/config.json; missing keys take BERT-base defaults except the sizes,
// which are required. num_labels: >0 overrides the file's id2label/num_labels; 0 keeps them
// (2 when the file has none, as transformers). Dies naming the file and key on bad values.
// Free with bert_config_free (bert.h).
BertConfig bert_config_load(const char *dir, int num_labels);

// bert_load: the model in checkpoint directory DIR (config.json + model.safetensors).
// Tensor names may carry the "bert." prefix or not; F32, F16 and BF16 are read; unknown extra
// tensors (e.g. embeddings.position_ids, MLM heads) are skipped; every tensor's shape is checked
// against config.json (one error line naming file, tensor, expected and found shapes). The
// pooler and classifier are optional: when absent they are created as transformers does
// (weights ~ normal(0, initializer_range) from `seed`, biases 0) and a line on stderr says so.
// A classifier with a different number of labels than num_labels (when >0) is re-created the
// same way. *created (may be NULL) gets a bit mask: 1 = pooler created, 2 = classifier created.
// Free with bert_free (bert.h).
BertModel bert_load(const char *dir, int num_labels, uint64_t seed, int *created);

// bert_save_hf: write DIR/config.json (the loaded config, with architectures
// BertForSequenceClassification and the model's id2label/label2id) and DIR/model.safetensors
// (F32, "bert."-prefixed names), plus the tokenizer files of the source directory, so that
// BertForSequenceClassification.from_pretrained(DIR) gives the same logits. Written into a
// temporary directory that is renamed over DIR, so DIR is never half-written.
void bert_save_hf(const BertModel *m, const char *dir);
