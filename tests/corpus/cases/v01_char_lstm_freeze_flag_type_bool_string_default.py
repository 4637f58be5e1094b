import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


def parse_args():
    p = argparse.ArgumentParser(description="character-level language model")
    p.add_argument("--vocab", type=int, default=40)
    p.add_argument("--emb-dim", type=int, default=16)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--freeze-embeddings", type=bool, default="False")
    return p.parse_args()


class CharLSTM(nn.Module):
    def __init__(self, vocab, emb_dim, hidden, freeze_embeddings):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb_dim)
        self.embed.weight.requires_grad = not freeze_embeddings
        self.rnn = nn.LSTM(emb_dim, hidden, batch_first=True)
        self.proj = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        return self.proj(out)


def main():
    args = parse_args()
    torch.manual_seed(0)
    model = CharLSTM(args.vocab, args.emb_dim, args.hidden, args.freeze_embeddings)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    corpus = torch.randint(0, args.vocab, (8, 17))
    for step in range(args.steps):
        inputs, targets = corpus[:, :-1], corpus[:, 1:]
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, args.vocab), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(f"step {step} loss {loss.item():.3f}")


if __name__ == "__main__":
    main()
