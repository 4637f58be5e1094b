import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyDETRHead(nn.Module):
    def __init__(self, dim=16, n_queries=4, n_classes=3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(10, dim), nn.ReLU())
        self.queries = nn.Embedding(n_queries, dim)
        self.class_embed = nn.Linear(dim, n_classes + 1)
        self.bbox_embed = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 4))

    def forward(self, x):
        memory = self.encoder(x)
        h = self.queries.weight[None] + memory[:, None, :]
        return {"pred_logits": self.class_embed(h), "pred_boxes": self.bbox_embed(h).sigmoid()}


class SetCriterion(nn.Module):
    def __init__(self, weight_dict):
        super().__init__()
        self.weight_dict = weight_dict

    def get_losses(self, outputs, targets):
        return {
            "loss_ce": F.cross_entropy(outputs["pred_logits"].flatten(0, 1), targets["labels"].flatten()),
            "loss_bbox": F.l1_loss(outputs["pred_boxes"], targets["boxes"]),
            "loss_center": F.mse_loss(outputs["pred_boxes"][..., :2], targets["boxes"][..., :2]),
        }

    def forward(self, outputs, targets):
        losses = self.get_losses(outputs, targets)
        total = sum(losses[k] * self.weight_dict[k] for k in losses if k in self.weight_dict)
        return total, losses


def main():
    torch.manual_seed(0)
    model = TinyDETRHead()
    criterion = SetCriterion(weight_dict={"loss_ce": 1.0})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    for step in range(8):
        x = torch.randn(6, 10)
        targets = {"labels": torch.randint(0, 4, (6, 4)), "boxes": torch.rand(6, 4, 4)}
        total, losses = criterion(model(x), targets)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        print(f"step {step} total {total.item():.4f} " + " ".join(f"{k}={v.item():.3f}" for k, v in losses.items()))


if __name__ == "__main__":
    main()
