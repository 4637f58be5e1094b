from collections import defaultdict

import torch
import torch.nn as nn
import torch.nn.functional as F


class LossAwareTimestepSampler:
    def __init__(self, num_timesteps, warmup=4):
        self.num_timesteps = num_timesteps
        self.warmup = warmup
        self.history = defaultdict(list)

    def weights(self):
        if any(len(self.history[t]) < self.warmup for t in range(self.num_timesteps)):
            return torch.ones(self.num_timesteps) / self.num_timesteps
        rms = torch.tensor([sum(v.item() ** 2 for v in self.history[t]) / len(self.history[t])
                            for t in range(self.num_timesteps)]).sqrt()
        return rms / rms.sum()

    def sample(self, batch_size):
        probs = self.weights()
        t = torch.multinomial(probs, batch_size, replacement=True)
        importance = 1.0 / (self.num_timesteps * probs[t])
        return t, importance

    def update_with_local_losses(self, timesteps, losses):
        for t, loss in zip(timesteps.tolist(), losses):
            self.history[t].append(loss)


class ScoreMLP(nn.Module):
    def __init__(self, dim=2, hidden=48, num_timesteps=10):
        super().__init__()
        self.t_embed = nn.Embedding(num_timesteps, hidden)
        self.body = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x, t):
        return self.out(F.silu(self.body(x) + self.t_embed(t)))


def main():
    torch.manual_seed(0)
    T = 10
    model = ScoreMLP(num_timesteps=T)
    sampler = LossAwareTimestepSampler(T)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    alphas_bar = torch.cumprod(1 - torch.linspace(1e-3, 0.2, T), 0)
    for step in range(15):
        x0 = torch.randn(32, 2) @ torch.tensor([[1.0, 0.3], [0.0, 0.5]])
        t, importance = sampler.sample(32)
        noise = torch.randn_like(x0)
        ab = alphas_bar[t].unsqueeze(-1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        losses = F.mse_loss(model(x_t, t), noise, reduction="none").mean(-1)
        sampler.update_with_local_losses(t, losses)
        loss = (losses * importance).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 5 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
