from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class LossConfig:
    aux_weight: float = 0.4
    ignore_index: int = 255


@dataclass
class TrainConfig:
    width: int = 8
    num_classes: int = 4
    lr: float = 0.05
    steps: int = 6
    loss: LossConfig = field(default_factory=LossConfig)


class PSPLikeNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.stage1 = nn.Conv2d(3, cfg.width, 3, padding=1)
        self.stage2 = nn.Conv2d(cfg.width, cfg.width * 2, 3, padding=1)
        self.aux_head = nn.Conv2d(cfg.width, cfg.num_classes, 1)
        self.head = nn.Conv2d(cfg.width * 2, cfg.num_classes, 1)

    def forward(self, x):
        f1 = F.relu(self.stage1(x))
        out = {"out": self.head(F.relu(self.stage2(f1)))}
        if self.training:
            out["aux"] = self.aux_head(f1)
        return out


def segmentation_loss(outputs, target, cfg):
    loss = F.cross_entropy(outputs["out"], target, ignore_index=cfg.ignore_index)
    if cfg.aux_weight > 0 and "aux" in outputs:
        loss = loss + cfg.aux_weight * F.cross_entropy(outputs["aux"], target, ignore_index=cfg.ignore_index)
    return loss


def main():
    cfg = TrainConfig()
    torch.manual_seed(0)
    model = PSPLikeNet(cfg)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    model.train()
    for step in range(cfg.steps):
        x = torch.randn(4, 3, 10, 10)
        y = torch.randint(0, cfg.num_classes, (4, 10, 10))
        optimizer.zero_grad()
        loss = segmentation_loss(model(x), y, cfg.loss)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
