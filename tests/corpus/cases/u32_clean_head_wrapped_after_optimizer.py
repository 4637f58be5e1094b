import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchNet(nn.Module):
    def __init__(self, n_classes=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 4, stride=4)
        self.norm = nn.BatchNorm2d(12)
        self.fc = nn.Linear(12, n_classes)

    def forward(self, x):
        x = F.gelu(self.norm(self.conv(x)))
        return self.fc(x.mean(dim=(2, 3)))


def add_head_dropout(model, p):
    model.fc = nn.Sequential(nn.Dropout(p), model.fc)
    return model


def main():
    torch.manual_seed(0)
    model = PatchNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    add_head_dropout(model, 0.2)
    x, y = torch.randn(32, 3, 16, 16), torch.randint(0, 4, (32,))
    model.train()
    for epoch in range(3):
        for i in range(0, 32, 8):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[i:i + 8]), y[i:i + 8])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
