import torch
import torch.nn as nn
import torch.nn.functional as F


class ActorCritic(nn.Module):
    def __init__(self, obs_dim=8, n_actions=4, hidden=32):
        super().__init__()
        self.shared = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh())
        self.policy_head = nn.Linear(hidden, n_actions)
        self.value_head = nn.Linear(hidden, 1)

    def forward(self, obs):
        h = self.shared(obs)
        return self.policy_head(h), self.value_head(h).squeeze(-1)


def discounted_returns(rewards, gamma):
    out, running = [], 0.0
    for r in reversed(rewards.tolist()):
        running = r + gamma * running
        out.append(running)
    return torch.tensor(out[::-1])


class A2CLearner:
    def __init__(self, model, lr=7e-4, gamma=0.99, value_coef=0.5, entropy_coef=0.01):
        self.model = model
        self.gamma, self.value_coef, self.entropy_coef = gamma, value_coef, entropy_coef
        self.optimizer = torch.optim.RMSprop(model.parameters(), lr=lr, alpha=0.99, eps=1e-5)

    def update(self, obs, actions, rewards):
        logits, values = self.model(obs)
        dist = torch.distributions.Categorical(logits=logits)
        returns = discounted_returns(rewards, self.gamma)
        advantages = returns - values.detach()
        policy_loss = -(dist.log_prob(actions) * advantages).mean()
        value_loss = F.mse_loss(values, returns)
        entropy = dist.entropy().mean()
        loss = policy_loss - self.entropy_coef * entropy
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 0.5)
        self.optimizer.step()
        return {"policy": policy_loss.item(), "value": value_loss.item(), "entropy": entropy.item()}


def main():
    torch.manual_seed(0)
    learner = A2CLearner(ActorCritic())
    for update in range(6):
        obs = torch.randn(20, 8)
        actions = torch.randint(0, 4, (20,))
        rewards = (actions == 1).float() + 0.1 * torch.randn(20)
        print(update, learner.update(obs, actions, rewards))


if __name__ == "__main__":
    main()
