import torch
import torch.nn as nn
import torch.nn.functional as F


class PolicyGradientBase(nn.Module):
    def __init__(self, obs_dim, n_actions, lr=3e-3):
        super().__init__()
        self.actor = nn.Sequential(nn.Linear(obs_dim, 32), nn.ReLU(), nn.Linear(32, n_actions))
        self.lr = lr
        self.optimizer = None

    def configure_optimizer(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def compute_loss(self, batch):
        raise NotImplementedError

    def update(self, batch):
        if self.optimizer is None:
            self.optimizer = self.configure_optimizer()
        loss = self.compute_loss(batch)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


class ReinforceWithBaseline(PolicyGradientBase):
    def __init__(self, obs_dim, n_actions, lr=3e-3):
        super().__init__(obs_dim, n_actions, lr)
        self.baseline = nn.Sequential(nn.Linear(obs_dim, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, obs):
        return self.actor(obs), self.baseline(obs).squeeze(-1)

    def compute_loss(self, batch):
        obs, actions, returns = batch
        logits, baseline = self(obs)
        log_probs = F.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
        advantage = returns - baseline.detach()
        return -(log_probs * advantage).mean() + F.smooth_l1_loss(baseline, returns)


def play_episodes(agent, n=48, obs_dim=6):
    obs = torch.randn(n, obs_dim)
    with torch.no_grad():
        logits, _ = agent(obs)
        actions = torch.multinomial(F.softmax(logits, dim=-1), 1).squeeze(1)
    returns = torch.where(actions == (obs.sum(1) > 0).long(), 1.0, -0.5)
    return obs, actions, returns


def main():
    torch.manual_seed(0)
    agent = ReinforceWithBaseline(obs_dim=6, n_actions=3)
    for episode_batch in range(8):
        loss = agent.update(play_episodes(agent))
        print(f"batch {episode_batch} loss {loss:.4f}")


if __name__ == "__main__":
    main()
