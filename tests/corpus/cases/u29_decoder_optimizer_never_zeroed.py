import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvEncoder(nn.Module):
    def __init__(self, latent=8):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * 6 * 6, latent)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))


class ConvDecoder(nn.Module):
    def __init__(self, latent=8):
        super().__init__()
        self.fc = nn.Linear(latent, 8 * 6 * 6)
        self.deconv = nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1)

    def forward(self, z):
        return self.deconv(F.relu(self.fc(z)).view(-1, 8, 6, 6))


def train(encoder, decoder, enc_optimizer, dec_optimizer, batches):
    for step, x in enumerate(batches):
        enc_optimizer.zero_grad()
        recon = decoder(encoder(x))
        loss = F.mse_loss(recon, x)
        loss.backward()
        enc_optimizer.step()
        dec_optimizer.step()
        print(f"step {step} recon {loss.item():.4f}")


def main():
    torch.manual_seed(0)
    encoder, decoder = ConvEncoder(), ConvDecoder()
    enc_optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
    dec_optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-3)
    batches = [torch.rand(8, 1, 12, 12) for _ in range(8)]
    train(encoder, decoder, enc_optimizer, dec_optimizer, batches)


if __name__ == "__main__":
    main()
