"""transformers' Trainer with its default optimizer and gradient accumulation, on a tiny BERT built from a config.

Planted fault (`--fault`): the word embeddings are frozen (requires_grad=False) before training.
`--optim NAME` picks another of the Trainer's optimizers.
"""
import sys
import tempfile

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

FAULT = "--fault" in sys.argv
OPTIM = {"optim": sys.argv[sys.argv.index("--optim") + 1]} if "--optim" in sys.argv else {}


class Batches(torch.utils.data.Dataset):
    def __init__(self, n=32, length=8, vocab=64):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, vocab, (n, length), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


if __name__ == "__main__":
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2)
    model = BertForSequenceClassification(config)
    if FAULT:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=3, per_device_train_batch_size=4,
                                 gradient_accumulation_steps=2, learning_rate=1e-2, use_cpu=True,
                                 report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True, **OPTIM)
        Trainer(model=model, args=args, train_dataset=Batches()).train()
