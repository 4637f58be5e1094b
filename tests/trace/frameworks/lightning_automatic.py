"""Lightning, automatic optimization: training_step runs inside optimizer.step(closure).

Planted fault (`--fault`): the encoder runs under torch.no_grad() inside training_step,
so only the head trains. `--accumulate N` and `--precision P` go to the Trainer.
"""
import argparse

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ap = argparse.ArgumentParser()
ap.add_argument("--fault", action="store_true")
ap.add_argument("--accumulate", type=int, default=1)
ap.add_argument("--precision", default="32-true")
ARGS = ap.parse_args()


class LitNet(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
        self.head = nn.Linear(16, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if ARGS.fault:
            with torch.no_grad():
                h = self.encoder(x)
        else:
            h = self.encoder(x)
        return F.mse_loss(self.head(h).float(), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(64, 8), torch.randn(64, 1))
    trainer = L.Trainer(max_steps=4, accumulate_grad_batches=ARGS.accumulate, precision=ARGS.precision,
                        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(LitNet(), DataLoader(data, batch_size=8))
