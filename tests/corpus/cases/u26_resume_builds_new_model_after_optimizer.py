import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F


class Forecaster(nn.Module):
    def __init__(self, window=12, hidden=16):
        super().__init__()
        self.config = {"window": window, "hidden": hidden}
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, series):
        out, _ = self.gru(series.unsqueeze(-1))
        return self.head(out[:, -1]).squeeze(-1)

    def save(self, path):
        torch.save({"config": self.config, "state": self.state_dict()}, path)

    @classmethod
    def from_checkpoint(cls, path):
        ckpt = torch.load(path)
        model = cls(**ckpt["config"])
        model.load_state_dict(ckpt["state"])
        return model


def setup(ckpt_path, lr):
    model = Forecaster()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if os.path.exists(ckpt_path):
        print(f"resuming from {os.path.basename(ckpt_path)}")
        model = Forecaster.from_checkpoint(ckpt_path)
    return model, optimizer


def main():
    torch.manual_seed(0)
    t = torch.arange(200, dtype=torch.float32)
    series = torch.sin(t / 6)
    windows = torch.stack([series[i:i + 13] for i in range(0, 180, 3)])
    with tempfile.TemporaryDirectory() as tmp:
        ckpt_path = os.path.join(tmp, "last.pt")
        Forecaster().save(ckpt_path)
        model, optimizer = setup(ckpt_path, lr=3e-3)
        for epoch in range(2):
            for i in range(0, len(windows), 20):
                batch = windows[i:i + 20]
                optimizer.zero_grad()
                loss = F.mse_loss(model(batch[:, :-1]), batch[:, -1])
                loss.backward()
                optimizer.step()
            print(f"epoch {epoch} mse {loss.item():.4f}")
            model.save(ckpt_path)


if __name__ == "__main__":
    main()
