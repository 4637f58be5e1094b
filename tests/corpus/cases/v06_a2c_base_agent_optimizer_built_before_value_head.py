import torch
import torch.nn as nn
import torch.nn.functional as F


class BaseAgent(nn.Module):
    def __init__(self, obs_dim, n_actions, lr=3e-3):
        super().__init__()
        self.policy = nn.Sequential(nn.Linear(obs_dim, 32), nn.Tanh(), nn.Linear(32, n_actions))
        self.optimizer = self.configure_optimizer(lr)

    def configure_optimizer(self, lr):
        return torch.optim.Adam(self.parameters(), lr=lr)

    def compute_loss(self, batch):
        raise NotImplementedError

    def update(self, batch):
        loss = self.compute_loss(batch)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


class A2CAgent(BaseAgent):
    def __init__(self, obs_dim, n_actions, lr=3e-3, value_coef=0.5):
        super().__init__(obs_dim, n_actions, lr)
        self.value_head = nn.Sequential(nn.Linear(obs_dim, 32), nn.Tanh(), nn.Linear(32, 1))
        self.value_coef = value_coef

    def forward(self, obs):
        return self.policy(obs), self.value_head(obs).squeeze(-1)

    def compute_loss(self, batch):
        obs, actions, returns = batch
        logits, values = self(obs)
        log_probs = torch.distributions.Categorical(logits=logits).log_prob(actions)
        advantages = returns - values.detach()
        policy_loss = -(log_probs * advantages).mean()
        return policy_loss + self.value_coef * F.mse_loss(values, returns)


def collect(agent, n=64, obs_dim=4):
    obs = torch.randn(n, obs_dim)
    with torch.no_grad():
        logits, _ = agent(obs)
        actions = torch.distributions.Categorical(logits=logits).sample()
    rewards = (actions == (obs[:, 0] > 0).long()).float()
    return obs, actions, rewards


def main():
    torch.manual_seed(0)
    agent = A2CAgent(obs_dim=4, n_actions=2)
    for it in range(10):
        loss = agent.update(collect(agent))
        if it % 3 == 0:
            print(f"iter {it} loss {loss:.4f}")


if __name__ == "__main__":
    main()
