import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.block1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.block2(self.block1(F.relu(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))


class FeatureRecorder:
    def __init__(self):
        self.features = {}
        self.handles = []

    def attach(self, model, names):
        modules = dict(model.named_modules())
        for name in names:
            self.handles.append(modules[name].register_forward_hook(self._make_hook(name)))

    def _make_hook(self, name):
        def hook(module, inputs, output):
            self.features[name] = output.detach()
            return self.features[name]
        return hook

    def summary(self):
        return {k: round(v.abs().mean().item(), 4) for k, v in self.features.items()}


def main():
    torch.manual_seed(0)
    model = ConvStack()
    recorder = FeatureRecorder()
    recorder.attach(model, ["block1"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(6):
        x, y = torch.randn(8, 1, 10, 10), torch.randint(0, 5, (8,))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f} features {recorder.summary()}")


if __name__ == "__main__":
    main()
