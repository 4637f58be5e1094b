import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 16, 5, padding=2)
        self.norm = nn.BatchNorm1d(16)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x))).mean(-1)


class SignalClassifier(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(16, n_classes)

    def forward(self, x):
        return self.head(self.backbone(x))


def parse_args():
    parser = argparse.ArgumentParser(description="fine-tune on the target sensor data")
    parser.add_argument("--n-classes", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--backbone-lr-mult", type=float, default=0.1)
    parser.add_argument("--no-backbone-finetune", dest="finetune_backbone", action="store_true")
    parser.add_argument("--steps", type=int, default=10)
    return parser.parse_args()


def setup_model(args):
    model = SignalClassifier(args.n_classes)
    if not args.finetune_backbone:
        model.backbone.requires_grad_(False)
    optimizer = torch.optim.AdamW([
        {"params": model.backbone.parameters(), "lr": args.lr * args.backbone_lr_mult},
        {"params": model.head.parameters(), "lr": args.lr},
    ], weight_decay=0.0)
    return model, optimizer


def main():
    args = parse_args()
    torch.manual_seed(0)
    model, optimizer = setup_model(args)
    for step in range(args.steps):
        x = torch.randn(8, 4, 32)
        y = torch.randint(0, args.n_classes, (8,))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if step % 3 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
