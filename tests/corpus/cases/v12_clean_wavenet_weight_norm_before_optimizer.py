import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrizations


class GatedResidualStack(nn.Module):
    def __init__(self, channels=16, dilations=(1, 2, 4)):
        super().__init__()
        self.inp = parametrizations.weight_norm(nn.Conv1d(1, channels, 1))
        self.filters = nn.ModuleList(parametrizations.weight_norm(nn.Conv1d(channels, 2 * channels, 2, dilation=d, padding=d))
                                     for d in dilations)
        self.out = nn.Conv1d(channels, 1, 1)

    def forward(self, wav):
        h = self.inp(wav)
        for conv in self.filters:
            a, b = conv(h)[..., :h.size(-1)].chunk(2, dim=1)
            h = h + torch.tanh(a) * torch.sigmoid(b)
        return self.out(h)


def main():
    torch.manual_seed(0)
    model = GatedResidualStack()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    t = torch.linspace(0, 6.28, 64)
    clean = torch.sin(t * torch.randint(1, 5, (16, 1)).float()).unsqueeze(1)
    noisy = clean + 0.3 * torch.randn_like(clean)
    for step in range(8):
        loss = F.l1_loss(model(noisy), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 2 == 0:
            print(f"step {step} l1 {loss.item():.4f}")


if __name__ == "__main__":
    main()
