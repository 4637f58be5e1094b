import random
from collections import deque

import torch
import torch.nn as nn
import torch.nn.functional as F


class QNetwork(nn.Module):
    def __init__(self, obs_dim=4, n_actions=2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, 32), nn.ReLU(), nn.Linear(32, n_actions))

    def forward(self, obs):
        return self.net(obs)


class PrioritizedBuffer:
    def __init__(self, capacity=1000):
        self.items = deque(maxlen=capacity)

    def push(self, obs, action, reward, next_obs, priority):
        self.items.append((obs, action, reward, next_obs, priority))

    def sample(self, n):
        weights = [float(item[4]) + 1e-3 for item in self.items]
        batch = random.choices(list(self.items), weights=weights, k=n)
        obs, act, rew, nxt, _ = zip(*batch)
        return torch.stack(obs), torch.tensor(act), torch.tensor(rew), torch.stack(nxt)


def main():
    torch.manual_seed(0)
    random.seed(0)
    online = QNetwork()
    optimizer = torch.optim.Adam(online.parameters(), lr=1e-3)
    buffer = PrioritizedBuffer()
    obs = torch.randn(4)
    for t in range(40):
        q_values = online(obs)
        action = int(q_values.argmax()) if random.random() > 0.2 else random.randrange(2)
        next_obs = obs + 0.1 * torch.randn(4)
        reward = float(next_obs[0] > 0)
        buffer.push(obs, action, reward, next_obs, q_values[action].abs())
        obs = next_obs
        if len(buffer.items) >= 16 and t % 4 == 0:
            b_obs, b_act, b_rew, b_next = buffer.sample(16)
            q = online(b_obs).gather(1, b_act[:, None]).squeeze(1)
            with torch.no_grad():
                target_q = b_rew + 0.99 * online(b_next).max(1).values
            loss = F.smooth_l1_loss(q, target_q)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            print(f"t {t} td loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
