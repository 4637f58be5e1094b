from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TrainConfig:
    hidden: int = 32
    lr: float = 1e-3
    clip_value: float = 0.0
    steps: int = 8


class PolicyNet(nn.Module):
    def __init__(self, obs_dim, n_actions, hidden):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.logits = nn.Linear(hidden, n_actions)

    def forward(self, obs):
        return self.logits(self.body(obs))


def install_grad_clamp(model, clip_value):
    for p in model.parameters():
        p.register_hook(lambda g: g.clamp(-clip_value, clip_value))


def main():
    cfg = TrainConfig()
    torch.manual_seed(0)
    policy = PolicyNet(obs_dim=6, n_actions=3, hidden=cfg.hidden)
    install_grad_clamp(policy, cfg.clip_value)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    for step in range(cfg.steps):
        obs = torch.randn(16, 6)
        dist = torch.distributions.Categorical(logits=policy(obs))
        actions = dist.sample()
        returns = torch.randn(16)
        loss = -(dist.log_prob(actions) * returns).mean() - 0.01 * dist.entropy().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
