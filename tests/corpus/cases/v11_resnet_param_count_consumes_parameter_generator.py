import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyResNet(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.block1 = nn.Conv2d(width, width, 3, padding=1)
        self.block2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.relu(h + self.block2(F.relu(self.block1(h))))
        return F.adaptive_avg_pool2d(h, 1).flatten(1)


class CosineClassifier(nn.Module):
    def __init__(self, dim, n_classes, scale=10.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) * 0.1)
        self.scale = scale

    def forward(self, feats):
        return self.scale * F.normalize(feats, dim=-1) @ F.normalize(self.weight, dim=-1).t()


def count_parameters(params):
    return sum(p.numel() for p in params if p.requires_grad)


def build_optimizer(backbone, classifier, lr=0.05):
    params = backbone.parameters()
    print(f"backbone: {count_parameters(params)} trainable parameters")
    return torch.optim.SGD(itertools.chain(params, classifier.parameters()), lr=lr, momentum=0.9)


def main():
    torch.manual_seed(0)
    backbone, classifier = TinyResNet(), CosineClassifier(16, 5)
    optimizer = build_optimizer(backbone, classifier)
    images, labels = torch.randn(40, 3, 8, 8), torch.randint(0, 5, (40,))
    for epoch in range(2):
        for x, y in zip(images.split(10), labels.split(10)):
            loss = F.cross_entropy(classifier(backbone(x)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
