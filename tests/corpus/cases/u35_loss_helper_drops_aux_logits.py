from collections import namedtuple

import torch
import torch.nn as nn
import torch.nn.functional as F

ModelOutputs = namedtuple("ModelOutputs", ["logits", "aux_logits"])


class InceptionLite(nn.Module):
    def __init__(self, n_classes=5):
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU())
        self.aux_classifier = nn.Linear(8, n_classes)
        self.classifier = nn.Linear(16, n_classes)

    def forward(self, x):
        f1 = self.stage1(x)
        logits = self.classifier(self.stage2(f1).mean(dim=(2, 3)))
        if self.training:
            return ModelOutputs(logits, self.aux_classifier(f1.mean(dim=(2, 3))))
        return logits


def classification_loss(out, target, label_smoothing=0.1):
    logits = out[0] if isinstance(out, tuple) else out
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing)


def main():
    torch.manual_seed(0)
    model = InceptionLite()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 5, (32,))
    for epoch in range(2):
        model.train()
        for i in range(0, 32, 8):
            optimizer.zero_grad()
            loss = classification_loss(model(x[i:i + 8]), y[i:i + 8])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x).argmax(1) == y).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
