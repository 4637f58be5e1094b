import torch
import torch.nn as nn
import torch.nn.functional as F


class Tower(nn.Module):
    def __init__(self, vocab=60, dim=16):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, ids):
        return F.normalize(self.proj(self.embed(ids)), dim=-1)


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.query_tower = Tower()
        self.doc_tower = Tower()

    @torch.no_grad()
    def encode(self, ids):
        return self.query_tower(ids)

    def build_index(self, docs):
        return torch.cat([self.doc_tower(d) for d in docs.split(8)]).detach()


class ContrastiveDualEncoder(DualEncoder):
    def __init__(self, temperature=0.1):
        super().__init__()
        self.temperature = temperature

    def forward(self, queries, docs):
        q = self.encode(queries)
        d = self.doc_tower(docs)
        logits = q @ d.t() / self.temperature
        return F.cross_entropy(logits, torch.arange(len(q)))


def main():
    torch.manual_seed(0)
    model = ContrastiveDualEncoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(8):
        queries = torch.randint(0, 60, (8, 6))
        docs = torch.cat([queries[:, :3], torch.randint(0, 60, (8, 5))], dim=1)
        optimizer.zero_grad()
        loss = model(queries, docs)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")
    index = model.build_index(torch.randint(0, 60, (16, 8)))
    print("index", tuple(index.shape))


if __name__ == "__main__":
    main()
