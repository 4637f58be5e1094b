import torch
import torch.nn as nn
import torch.nn.functional as F


class AttentionPool(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.score = nn.Linear(dim, 1)
        self.attention_maps = []

    def forward(self, h):
        weights = self.score(h).squeeze(-1).softmax(dim=-1)
        self.attention_maps.append(weights)
        return (weights.unsqueeze(-1) * h).sum(1)


class ReviewClassifier(nn.Module):
    def __init__(self, vocab=60, dim=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.encoder = nn.GRU(dim, dim, batch_first=True)
        self.pool = AttentionPool(dim)
        self.out = nn.Linear(dim, 2)

    def forward(self, ids):
        h, _ = self.encoder(self.embed(ids))
        return self.out(self.pool(h))


def main():
    torch.manual_seed(0)
    model = ReviewClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for step in range(10):
        ids = torch.randint(0, 60, (8, 12))
        labels = (ids == 7).any(1).long()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(ids), labels)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")
    first, last = model.pool.attention_maps[0], model.pool.attention_maps[-1]
    print("attention peak moved", (first.argmax(-1) != last.argmax(-1)).float().mean().item())


if __name__ == "__main__":
    main()
