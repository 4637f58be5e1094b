import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class ResidualMLP(nn.Module):
    def __init__(self, dim, depth, num_classes):
        super().__init__()
        self.stem = nn.Linear(16, dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU()) for _ in range(depth)
        )
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        h = self.stem(x)
        for blk in self.blocks:
            h = h + blk(h)
        return self.head(h)


def get_args():
    p = argparse.ArgumentParser(description="fine-tune a pretrained residual MLP")
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--train-last-blocks", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--epochs", type=int, default=2)
    return p.parse_args()


def freeze_early_blocks(model, train_last):
    n_frozen = len(model.blocks) - train_last
    for blk in model.blocks[:n_frozen]:
        for p in blk.parameters():
            p.requires_grad = False
    return n_frozen


def main():
    args = get_args()
    torch.manual_seed(0)
    x = torch.randn(64, 16)
    y = (x[:, :4].sum(1) > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, num_workers=0)

    model = ResidualMLP(args.width, args.depth, num_classes=2)
    n_frozen = freeze_early_blocks(model, args.train_last_blocks)
    print(f"frozen {n_frozen}/{len(model.blocks)} blocks")
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    for epoch in range(args.epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
