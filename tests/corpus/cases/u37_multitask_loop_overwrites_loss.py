import torch
import torch.nn as nn
import torch.nn.functional as F

TASKS = {"species": 5, "habitat": 3, "endangered": 2}


class MultiTaskNet(nn.Module):
    def __init__(self, tasks, n_in=20, hidden=32):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in tasks.items()})

    def forward(self, x):
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}


def train_step(model, optimizer, x, targets):
    outputs = model(x)
    optimizer.zero_grad()
    for name, logits in outputs.items():
        loss = F.cross_entropy(logits, targets[name])
    loss.backward()
    optimizer.step()
    return loss.item()


def main():
    torch.manual_seed(0)
    model = MultiTaskNet(TASKS)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(8):
        x = torch.randn(16, 20)
        targets = {name: torch.randint(0, n, (16,)) for name, n in TASKS.items()}
        print(f"step {step} loss {train_step(model, optimizer, x, targets):.4f}")


if __name__ == "__main__":
    main()
