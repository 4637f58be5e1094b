import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyGAN(nn.Module):
    def __init__(self, z_dim=4):
        super().__init__()
        self.z_dim = z_dim
        self.generator = nn.Sequential(nn.Linear(z_dim, 16), nn.ReLU(), nn.Linear(16, 2))
        self.discriminator = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        self._optimizers = self.configure_optimizers()

    def forward(self, z):
        return self.generator(z)

    def configure_optimizers(self):
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        return [opt_d, opt_g]

    def optimizers(self):
        return self._optimizers

    def training_step(self, real):
        opt_g, opt_d = self.optimizers()
        n = len(real)
        fake = self(torch.randn(n, self.z_dim))

        opt_g.zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(fake), torch.ones(n, 1))
        g_loss.backward()
        opt_g.step()

        opt_d.zero_grad()
        d_real = F.binary_cross_entropy_with_logits(self.discriminator(real), torch.ones(n, 1))
        d_fake = F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), torch.zeros(n, 1))
        d_loss = 0.5 * (d_real + d_fake)
        d_loss.backward()
        opt_d.step()
        return {"g_loss": g_loss.item(), "d_loss": d_loss.item()}


def main():
    torch.manual_seed(0)
    gan = TinyGAN()
    for step in range(8):
        real = torch.randn(16, 2) * 0.3 + 1.5
        print(step, gan.training_step(real))


if __name__ == "__main__":
    main()
