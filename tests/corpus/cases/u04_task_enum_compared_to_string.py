import enum
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F


class Task(enum.Enum):
    CLASSIFY = "classify"
    MULTITASK = "multitask"


class FaceAttributesNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.gender_head = nn.Linear(32, 2)
        self.age_head = nn.Linear(32, 1)

    def forward(self, x):
        f = self.features(x)
        return self.gender_head(f), self.age_head(f).squeeze(-1)


class Criterion:
    def __init__(self, cfg):
        self.cfg = cfg

    def __call__(self, outputs, gender, age):
        gender_logits, age_pred = outputs
        loss = F.cross_entropy(gender_logits, gender)
        if self.cfg.task == "multitask":
            loss = loss + self.cfg.age_weight * F.l1_loss(age_pred, age)
        return loss


def main():
    torch.manual_seed(0)
    cfg = SimpleNamespace(task=Task.MULTITASK, age_weight=0.1, lr=1e-3, epochs=2)
    images = torch.randn(32, 1, 8, 8)
    gender = torch.randint(0, 2, (32,))
    age = torch.rand(32) * 60
    model = FaceAttributesNet()
    criterion = Criterion(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for epoch in range(cfg.epochs):
        for i in range(0, 32, 8):
            optimizer.zero_grad()
            loss = criterion(model(images[i:i + 8]), gender[i:i + 8], age[i:i + 8])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} ({cfg.task.value}) loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
