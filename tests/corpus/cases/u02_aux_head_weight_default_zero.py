from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TrainConfig:
    in_ch: int = 3
    width: int = 8
    num_classes: int = 4
    lr: float = 0.05
    aux_weight: float = 0.0
    steps: int = 8
    batch_size: int = 8


class DeepSupervisedSegNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.enc1 = nn.Conv2d(cfg.in_ch, cfg.width, 3, padding=1)
        self.enc2 = nn.Conv2d(cfg.width, cfg.width * 2, 3, padding=1)
        self.aux_head = nn.Conv2d(cfg.width, cfg.num_classes, 1)
        self.head = nn.Conv2d(cfg.width * 2, cfg.num_classes, 1)

    def forward(self, x):
        f1 = F.relu(self.enc1(x))
        f2 = F.relu(self.enc2(f1))
        return self.head(f2), self.aux_head(f1)


def compute_loss(outputs, target, cfg):
    logits, aux_logits = outputs
    loss = F.cross_entropy(logits, target)
    if cfg.aux_weight > 0:
        loss = loss + cfg.aux_weight * F.cross_entropy(aux_logits, target)
    return loss


def main():
    cfg = TrainConfig()
    torch.manual_seed(0)
    model = DeepSupervisedSegNet(cfg)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    for step in range(cfg.steps):
        images = torch.randn(cfg.batch_size, cfg.in_ch, 12, 12)
        masks = torch.randint(0, cfg.num_classes, (cfg.batch_size, 12, 12))
        optimizer.zero_grad()
        loss = compute_loss(model(images), masks, cfg)
        loss.backward()
        optimizer.step()
        if step % 2 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
