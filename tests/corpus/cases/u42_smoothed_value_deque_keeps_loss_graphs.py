from collections import defaultdict, deque

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmoothedValue:
    def __init__(self, window=20):
        self.window = deque()
        self.window_size = window
        self.total = 0.0
        self.count = 0

    def update(self, value, n=1):
        self.window.append(value)
        self.total += value * n
        self.count += n

    @property
    def median(self):
        recent = list(self.window)[-self.window_size:]
        return torch.tensor([float(v) for v in recent]).median().item()

    @property
    def global_avg(self):
        return float(self.total) / max(1, self.count)


class MetricLogger:
    def __init__(self):
        self.meters = defaultdict(SmoothedValue)

    def update(self, **kwargs):
        for k, v in kwargs.items():
            self.meters[k].update(v)

    def __str__(self):
        return "  ".join(f"{k}: {m.median:.4f} ({m.global_avg:.4f})" for k, m in self.meters.items())


class KeypointNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))

    def forward(self, x):
        return self.body(x)


def train_one_epoch(model, optimizer, batches, logger):
    for images, heatmaps in batches:
        loss = F.mse_loss(model(images), heatmaps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        logger.update(loss=loss, lr=optimizer.param_groups[0]["lr"])


def main():
    torch.manual_seed(0)
    model = KeypointNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    logger = MetricLogger()
    batches = [(torch.randn(4, 1, 12, 12), torch.rand(4, 4, 12, 12)) for _ in range(5)]
    for epoch in range(2):
        train_one_epoch(model, optimizer, batches, logger)
        print(f"epoch {epoch} {logger}")


if __name__ == "__main__":
    main()
