import torch
import torch.nn as nn
import torch.nn.functional as F


class EpochSummary:
    def __init__(self):
        self.outputs = []

    def on_train_batch_end(self, trainer, outputs, batch_idx):
        self.outputs.append(outputs)

    def on_train_epoch_end(self, trainer, epoch):
        losses = torch.stack([o["loss"] for o in self.outputs])
        confident = torch.cat([o["logits"].softmax(-1).max(-1).values for o in self.outputs]).mean()
        print(f"epoch {epoch} mean loss {losses.mean().item():.4f} confidence {confident.item():.3f}")
        self.outputs.clear()


class DigitMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


class Loop:
    def __init__(self, model, callbacks, lr=0.05):
        self.model, self.callbacks = model, callbacks
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def training_step(self, batch):
        x, y = batch
        logits = self.model(x)
        return {"loss": F.cross_entropy(logits, y), "logits": logits}

    def fit(self, batches, epochs):
        for epoch in range(epochs):
            for i, batch in enumerate(batches):
                out = self.training_step(batch)
                self.optimizer.zero_grad()
                out["loss"].backward()
                self.optimizer.step()
                for cb in self.callbacks:
                    cb.on_train_batch_end(self, out, i)
            for cb in self.callbacks:
                cb.on_train_epoch_end(self, epoch)


def main():
    torch.manual_seed(0)
    batches = [(torch.randn(16, 8, 8), torch.randint(0, 10, (16,))) for _ in range(6)]
    Loop(DigitMLP(), [EpochSummary()]).fit(batches, epochs=2)


if __name__ == "__main__":
    main()
