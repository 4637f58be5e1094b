import torch
import torch.nn as nn
import torch.nn.functional as F


class VectorQuantizer(nn.Module):
    def __init__(self, n_codes=16, dim=8, beta=0.25):
        super().__init__()
        self.codebook = nn.Embedding(n_codes, dim)
        self.codebook.weight.data.uniform_(-1.0 / n_codes, 1.0 / n_codes)
        self.beta = beta

    def forward(self, z):
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.weight.t() + self.codebook.weight.pow(2).sum(1)
        codes = dist.argmin(1)
        quantized = self.codebook(codes).view(b, h, w, d).permute(0, 3, 1, 2)
        vq_loss = F.mse_loss(quantized, z.detach()) + self.beta * F.mse_loss(z, quantized.detach())
        quantized = z + (quantized - z).detach()
        return quantized, vq_loss, codes


class VQVAE(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, dim, 3, 1, 1))
        self.quantizer = VectorQuantizer(dim=dim)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(dim, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 1, 3, 1, 1))

    def forward(self, x):
        z = self.encoder(x)
        quantized, *_ = self.quantizer(z)
        return self.decoder(quantized)


def train_step(model, optimizer, images):
    recon = model(images)
    loss = F.mse_loss(recon, images)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def main():
    torch.manual_seed(0)
    model = VQVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    images = torch.rand(24, 1, 12, 12)
    for epoch in range(3):
        for batch in images.split(8):
            loss = train_step(model, optimizer, batch)
        print(f"epoch {epoch} recon {loss:.4f}")


if __name__ == "__main__":
    main()
