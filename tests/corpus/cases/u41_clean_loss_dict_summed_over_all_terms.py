import torch
import torch.nn as nn
import torch.nn.functional as F

CFG = {"latent": 6, "lr": 2e-3, "steps": 8, "loss_weights": {"recon": 0.5}}


class SemiSupervisedAE(nn.Module):
    def __init__(self, n_in=16, latent=6, n_classes=3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_in, 24), nn.ReLU(), nn.Linear(24, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, 24), nn.ReLU(), nn.Linear(24, n_in))
        self.classifier = nn.Linear(latent, n_classes)

    def forward(self, x, y):
        z = self.encoder(x)
        return {"cls": F.cross_entropy(self.classifier(z), y), "recon": F.mse_loss(self.decoder(z), x)}


def weighted_total(losses, weights):
    return sum(weights.get(k, 1.0) * v for k, v in losses.items())


def main():
    torch.manual_seed(0)
    model = SemiSupervisedAE(latent=CFG["latent"])
    optimizer = torch.optim.Adam(model.parameters(), lr=CFG["lr"])
    for step in range(CFG["steps"]):
        x = torch.randn(16, 16)
        y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
        losses = model(x, y)
        loss = weighted_total(losses, CFG["loss_weights"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"step {step} " + " ".join(f"{k}={v.item():.4f}" for k, v in losses.items()))


if __name__ == "__main__":
    main()
