import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class CharGRU(nn.Module):
    def __init__(self, vocab=30, emb=12, hidden=24):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.out(h)


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--accum-steps", type=int, default=4)
    p.add_argument("--clip-norm", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=3e-3)
    return p.parse_args()


def train(model, loader, optimizer, args):
    max_norm = args.clip_norm // args.accum_steps
    model.train()
    optimizer.zero_grad()
    for i, (seq,) in enumerate(loader):
        logits = model(seq[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), seq[:, 1:].reshape(-1))
        (loss / args.accum_steps).backward()
        if (i + 1) % args.accum_steps == 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            optimizer.zero_grad()
            print(f"update {(i + 1) // args.accum_steps} loss {loss.item():.4f}")


def main():
    args = parse()
    torch.manual_seed(0)
    data = torch.randint(0, 30, (48, 10))
    loader = DataLoader(TensorDataset(data), batch_size=args.micro_batch, shuffle=True, num_workers=0)
    model = CharGRU()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    train(model, loader, optimizer, args)


if __name__ == "__main__":
    main()
