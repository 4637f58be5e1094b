from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class FinetuneConfig:
    vocab: int = 40
    dim: int = 16
    heads: int = 2
    classes: int = 3
    trainable: tuple = ("encoder", "pooler", "classifier")
    lr: float = 5e-4
    steps: int = 8


class TinyEncoderClassifier(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = nn.Embedding(cfg.vocab, cfg.dim)
        self.body = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 2 * cfg.dim, dropout=0.0, batch_first=True)
        self.pooler = nn.Linear(cfg.dim, cfg.dim)
        self.classifier = nn.Linear(cfg.dim, cfg.classes)

    def forward(self, ids):
        h = self.body(self.embeddings(ids))
        return self.classifier(torch.tanh(self.pooler(h[:, 0])))


def mark_trainable(model, cfg):
    n = 0
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(cfg.trainable)
        n += p.requires_grad
    return n


def main():
    cfg = FinetuneConfig()
    torch.manual_seed(0)
    model = TinyEncoderClassifier(cfg)
    print(f"{mark_trainable(model, cfg)} trainable tensors")
    optimizer = torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=cfg.lr, weight_decay=0.0)
    for step in range(cfg.steps):
        ids = torch.randint(0, cfg.vocab, (8, 10))
        labels = ids[:, 1] % cfg.classes
        optimizer.zero_grad()
        loss = F.cross_entropy(model(ids), labels)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
