import torch
import torch.nn as nn
import torch.nn.functional as F


class MessagePassingLayer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.message = nn.Linear(dim, dim)
        self.update = nn.Linear(2 * dim, dim)

    def forward(self, h, adj):
        incoming = adj @ self.message(h) / adj.sum(-1, keepdim=True).clamp(min=1.0)
        return F.relu(self.update(torch.cat([h, incoming], dim=-1)))


class NodeClassifierGNN(nn.Module):
    def __init__(self, in_dim, dim, n_classes, n_layers=2):
        super().__init__()
        self.encode = nn.Linear(in_dim, dim)
        self.layers = nn.ModuleList(MessagePassingLayer(dim) for _ in range(n_layers))
        self.readout = nn.Linear(dim, n_classes)

    def embed(self, x, adj):
        h = F.relu(self.encode(x))
        for layer in self.layers:
            h = layer(h, adj)
        return h

    def forward(self, x, adj):
        return self.readout(self.embed(x, adj))


def node_embeddings(model, x, adj):
    for p in model.layers.parameters():
        p.requires_grad_(False)
    model.eval()
    h = model.embed(x, adj)
    model.train()
    return h


def knn_accuracy(emb, labels):
    emb = F.normalize(emb.detach(), dim=-1)
    sim = emb @ emb.t()
    sim.fill_diagonal_(-1.0)
    return (labels[sim.argmax(-1)] == labels).float().mean().item()


def fit(model, graph, epochs=8, log_every=4):
    x, adj, labels, train_mask = graph
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for epoch in range(epochs):
        if epoch % log_every == 0:
            print(f"epoch {epoch} knn acc {knn_accuracy(node_embeddings(model, x, adj), labels):.3f}")
        logits = model(x, adj)
        loss = F.cross_entropy(logits[train_mask], labels[train_mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"final loss {loss.item():.4f}")


def main():
    torch.manual_seed(0)
    n = 30
    adj = (torch.rand(n, n) < 0.15).float()
    adj = ((adj + adj.t()) > 0).float()
    x = torch.randn(n, 5)
    labels = torch.randint(0, 3, (n,))
    train_mask = torch.rand(n) < 0.6
    fit(NodeClassifierGNN(5, 16, 3), (x, adj, labels, train_mask))


if __name__ == "__main__":
    main()
