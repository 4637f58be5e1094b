import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrizations


class ConvVAE(nn.Module):
    def __init__(self, latent=8):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 4, 2, 1), nn.ReLU(), nn.Flatten())
        self.fc_mu = nn.Linear(16 * 4 * 4, latent)
        self.fc_logvar = nn.Linear(16 * 4 * 4, latent)
        self.fc_dec = nn.Linear(latent, 16 * 4 * 4)
        self.dec = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1))

    def forward(self, x):
        h = self.enc(x)
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec(self.fc_dec(z).view(-1, 16, 4, 4)), mu, logvar


def build(args):
    model = ConvVAE(latent=args.latent)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    if args.weight_norm:
        for name in ("fc_mu", "fc_logvar"):
            parametrizations.weight_norm(getattr(model, name))
    return model, optimizer


def elbo_loss(recon, x, mu, logvar):
    rec = F.mse_loss(recon, x, reduction="sum") / x.size(0)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.size(0)
    return rec + kl


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--no-weight-norm", dest="weight_norm", action="store_false")
    args = p.parse_args()
    torch.manual_seed(0)
    model, optimizer = build(args)
    images = torch.rand(32, 1, 16, 16)
    for epoch in range(args.epochs):
        for x in images.split(8):
            recon, mu, logvar = model(x)
            loss = elbo_loss(recon, x, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} elbo {loss.item():.3f}")


if __name__ == "__main__":
    main()
