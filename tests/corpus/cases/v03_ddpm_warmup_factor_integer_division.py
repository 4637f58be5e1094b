from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class DiffusionConfig:
    data_dim: int = 2
    hidden: int = 64
    timesteps: int = 50
    base_lr: float = 2e-4
    warmup_steps: int = 500
    train_steps: int = 12
    batch_size: int = 32


class TinyDenoiser(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.time_embed = nn.Embedding(cfg.timesteps, cfg.hidden)
        self.inp = nn.Linear(cfg.data_dim, cfg.hidden)
        self.net = nn.Sequential(nn.SiLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.SiLU(),
                                 nn.Linear(cfg.hidden, cfg.data_dim))

    def forward(self, x_t, t):
        return self.net(self.inp(x_t) + self.time_embed(t))


def warmup_factor(step, cfg):
    return min(1.0, (step + 1) // cfg.warmup_steps)


def main():
    cfg = DiffusionConfig()
    torch.manual_seed(0)
    model = TinyDenoiser(cfg)
    betas = torch.linspace(1e-4, 0.02, cfg.timesteps)
    alphas_bar = torch.cumprod(1.0 - betas, dim=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.base_lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_factor(s, cfg))
    for step in range(cfg.train_steps):
        x0 = 0.5 * torch.randn(cfg.batch_size, cfg.data_dim) + 1.0
        t = torch.randint(0, cfg.timesteps, (cfg.batch_size,))
        noise = torch.randn_like(x0)
        ab = alphas_bar[t].unsqueeze(-1)
        x_t = ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise
        loss = F.mse_loss(model(x_t, t), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 4 == 0:
            print(f"step {step} loss {loss.item():.4f} lr {scheduler.get_last_lr()[0]:.2e}")


if __name__ == "__main__":
    main()
