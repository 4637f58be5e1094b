import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


def str2bool(value):
    if isinstance(value, bool):
        return value
    return value.strip().lower() in ("1", "true", "yes", "y", "on")


def parse_args():
    p = argparse.ArgumentParser(description="part-of-speech tagger")
    p.add_argument("--vocab", type=int, default=60)
    p.add_argument("--n-tags", type=int, default=6)
    p.add_argument("--dim", type=int, default=24)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--freeze-embeddings", type=str2bool, default="False")
    return p.parse_args()


class BiGRUTagger(nn.Module):
    def __init__(self, vocab, dim, n_tags):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True, bidirectional=True)
        self.tagger = nn.Linear(2 * dim, n_tags)

    def forward(self, words):
        states, _ = self.gru(self.embed(words))
        return self.tagger(states)


def main():
    args = parse_args()
    torch.manual_seed(0)
    model = BiGRUTagger(args.vocab, args.dim, args.n_tags)
    if args.freeze_embeddings:
        model.embed.weight.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    sentences = torch.randint(0, args.vocab, (12, 9))
    tags = sentences % args.n_tags
    for epoch in range(args.epochs):
        for words, gold in zip(sentences.split(4), tags.split(4)):
            scores = model(words)
            loss = F.cross_entropy(scores.reshape(-1, args.n_tags), gold.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
