"""A torch.compile'd model in a plain loop (aot_eager: dynamo and AOTAutograd, no C++ toolchain needed).

Planted fault (`--fault`): forward detaches the body's output, so only the head trains.
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

FAULT = "--fault" in sys.argv


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        h = self.body(x)
        if FAULT:
            h = h.detach()
        return self.head(h)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = torch.compile(Net(), backend="aot_eager")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 8), torch.randn(32, 1)
    for _ in range(5):
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
