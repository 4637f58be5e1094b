import torch
import torch.nn as nn
import torch.nn.functional as F


class Codebook(nn.Module):
    def __init__(self, size=12, dim=6, commitment=0.25):
        super().__init__()
        self.embed = nn.Parameter(torch.randn(size, dim) * 0.1)
        self.commitment = commitment

    def forward(self, z):
        flat = z.transpose(1, 2).reshape(-1, z.size(1))
        idx = torch.cdist(flat, self.embed).argmin(-1)
        q = self.embed[idx].view(z.size(0), z.size(2), z.size(1)).transpose(1, 2)
        codebook_loss = F.mse_loss(q, z.detach())
        commit_loss = F.mse_loss(z, q.detach())
        q = z + (q - z).detach()
        return q, codebook_loss + self.commitment * commit_loss


class SignalTokenizer(nn.Module):
    def __init__(self, dim=6):
        super().__init__()
        self.encode = nn.Conv1d(2, dim, 4, stride=2, padding=1)
        self.codebook = Codebook(dim=dim)
        self.decode = nn.ConvTranspose1d(dim, 2, 4, stride=2, padding=1)

    def forward(self, x):
        q, vq_loss = self.codebook(self.encode(x))
        return self.decode(q), vq_loss


def main():
    torch.manual_seed(0)
    model = SignalTokenizer()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    signals = torch.randn(32, 2, 20).cumsum(-1) * 0.1
    for step, batch in enumerate(signals.split(4)):
        recon, vq_loss = model(batch)
        loss = F.mse_loss(recon, batch) + vq_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 3 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
