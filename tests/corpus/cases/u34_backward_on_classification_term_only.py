import torch
import torch.nn as nn
import torch.nn.functional as F


class OneStageDetector(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.cls_head = nn.Conv2d(16, n_classes, 1)
        self.box_head = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        f = self.backbone(x)
        return self.cls_head(f), self.box_head(f)


def detection_losses(outputs, cls_target, box_target, box_weight):
    cls_logits, box_pred = outputs
    cls_loss = F.cross_entropy(cls_logits, cls_target)
    box_loss = F.smooth_l1_loss(box_pred, box_target)
    total = cls_loss + box_weight * box_loss
    return cls_loss, box_loss, total


def main():
    torch.manual_seed(0)
    model = OneStageDetector()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=0.0)
    for it in range(8):
        images = torch.randn(4, 3, 8, 8)
        cls_target = torch.randint(0, 3, (4, 8, 8))
        box_target = torch.rand(4, 4, 8, 8)
        cls_loss, box_loss, total = detection_losses(model(images), cls_target, box_target, box_weight=2.0)
        optimizer.zero_grad()
        cls_loss.backward()
        optimizer.step()
        print(f"iter {it} total {total.item():.4f} (cls {cls_loss.item():.4f}, box {box_loss.item():.4f})")


if __name__ == "__main__":
    main()
