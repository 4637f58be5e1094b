import torch
import torch.nn as nn
import torch.nn.functional as F


class EdgeConvRegressor(nn.Module):
    def __init__(self, in_dim=4, dim=16):
        super().__init__()
        self.node_mlp = nn.Sequential(nn.Linear(in_dim, dim), nn.ReLU())
        self.edge_mlp = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU())
        self.head = nn.Linear(dim, 1)

    def forward(self, x, edge_index):
        src, dst = edge_index
        h = self.node_mlp(x)
        messages = self.edge_mlp(torch.cat([h[src], h[dst]], dim=-1))
        aggregated = torch.zeros_like(h).index_add_(0, dst, messages)
        return self.head(h + aggregated).squeeze(-1)


def make_optimizers(model):
    return [
        torch.optim.Adam(model.node_mlp.parameters(), lr=1e-3),
        torch.optim.Adam(model.edge_mlp.parameters(), lr=1e-3),
        torch.optim.SGD(model.head.parameters(), lr=1e-2),
    ]


def random_graph(n=12, e=30):
    x = torch.randn(n, 4)
    edge_index = torch.randint(0, n, (2, e))
    return x, edge_index, x[:, 0] - 0.5 * x[:, 1]


def train_epoch(model, optimizers, graphs):
    total = 0.0
    for x, edge_index, y in graphs:
        for opt in optimizers:
            opt.zero_grad()
        loss = F.mse_loss(model(x, edge_index), y)
        loss.backward()
        opt.step()
        total += loss.item()
    return total / len(graphs)


def main():
    torch.manual_seed(0)
    model = EdgeConvRegressor()
    optimizers = make_optimizers(model)
    graphs = [random_graph() for _ in range(4)]
    for epoch in range(3):
        print(f"epoch {epoch} mse {train_epoch(model, optimizers, graphs):.4f}")


if __name__ == "__main__":
    main()
