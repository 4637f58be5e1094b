import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class SmallConvNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


def get_args():
    p = argparse.ArgumentParser()
    p.add_argument("--base-lr", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--epochs", type=int, default=2)
    return p.parse_args()


def main():
    args = get_args()
    torch.manual_seed(0)
    images, labels = torch.randn(96, 3, 8, 8), torch.randint(0, 10, (96,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=args.batch_size, shuffle=True, num_workers=0)
    model = SmallConvNet()
    lr = args.base_lr * args.batch_size / 256
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / args.warmup_steps))
    for epoch in range(args.epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            warmup.step()
        print(f"epoch {epoch} loss {loss.item():.4f} lr {warmup.get_last_lr()[0]:.5f}")


if __name__ == "__main__":
    main()
