"""Lightning Fabric: fabric.setup() wraps the model in a _FabricModule; fabric.backward() runs backward.

Planted fault (`--fault`): the optimizer is built from the head's parameters only.
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from lightning.fabric import Fabric

FAULT = "--fault" in sys.argv


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.Tanh())
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.body(x))


if __name__ == "__main__":
    torch.manual_seed(0)
    fabric = Fabric(accelerator="cpu", devices=1)
    model = Regressor()
    optimizer = torch.optim.SGD((model.head if FAULT else model).parameters(), lr=0.1)
    model, optimizer = fabric.setup(model, optimizer)
    x, y = torch.randn(32, 8), torch.randn(32, 1)
    for _ in range(4):
        optimizer.zero_grad()
        fabric.backward(F.mse_loss(model(x), y))
        optimizer.step()
