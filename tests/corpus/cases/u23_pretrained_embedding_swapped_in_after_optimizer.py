import torch
import torch.nn as nn
import torch.nn.functional as F


class SentimentLSTM(nn.Module):
    def __init__(self, vocab, dim=12, hidden=16):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def forward(self, ids):
        _, (h, _) = self.lstm(self.embedding(ids))
        return self.out(h[-1])


def build_optimizer(model, lr):
    return torch.optim.Adam(model.parameters(), lr=lr)


def load_word_vectors(model, vocab, dim):
    g = torch.Generator().manual_seed(1)
    vectors = torch.randn(vocab, dim, generator=g) * 0.3
    model.embedding = nn.Embedding.from_pretrained(vectors, freeze=False)


def main():
    torch.manual_seed(0)
    vocab, dim = 100, 12
    model = SentimentLSTM(vocab, dim)
    optimizer = build_optimizer(model, lr=2e-3)
    load_word_vectors(model, vocab, dim)
    for step in range(8):
        ids = torch.randint(0, vocab, (8, 9))
        labels = (ids[:, 0] > vocab // 2).long()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(ids), labels)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
