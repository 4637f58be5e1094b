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


class ActivationStats:
    def __init__(self, model, names):
        self.means = {name: [] for name in names}
        modules = dict(model.named_modules())
        self.handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name):
        def hook(module, inputs, output):
            self.means[name].append(output.detach().mean())
        return hook

    def close(self):
        for h in self.handles:
            h.remove()


def main():
    torch.manual_seed(0)
    model = ConvStack()
    stats = ActivationStats(model, ["block1", "block2"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(6):
        x, y = torch.randn(8, 1, 10, 10), torch.randint(0, 5, (8,))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f} block1 {stats.means['block1'][-1]:.4f}")
    stats.close()


if __name__ == "__main__":
    main()
