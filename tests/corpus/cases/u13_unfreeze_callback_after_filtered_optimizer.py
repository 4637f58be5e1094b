import torch
import torch.nn as nn
import torch.nn.functional as F


class TransferNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                                      nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.backbone(x))


class BackboneUnfreeze:
    def __init__(self, unfreeze_at_epoch=1):
        self.unfreeze_at_epoch = unfreeze_at_epoch

    def on_train_start(self, trainer):
        trainer.model.backbone.requires_grad_(False)

    def on_epoch_start(self, trainer, epoch):
        if epoch == self.unfreeze_at_epoch:
            print("unfreezing backbone")
            trainer.model.backbone.requires_grad_(True)


class Trainer:
    def __init__(self, model, callbacks, lr=1e-3, epochs=3):
        self.model, self.callbacks, self.lr, self.epochs = model, callbacks, lr, epochs

    def _emit(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def fit(self, batches):
        self._emit("on_train_start")
        params = filter(lambda p: p.requires_grad, self.model.parameters())
        self.optimizer = torch.optim.Adam(params, lr=self.lr)
        for epoch in range(self.epochs):
            self._emit("on_epoch_start", epoch)
            for x, y in batches:
                self.optimizer.zero_grad()
                loss = F.cross_entropy(self.model(x), y)
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")


def main():
    torch.manual_seed(0)
    batches = [(torch.randn(8, 3, 8, 8), torch.randint(0, 4, (8,))) for _ in range(3)]
    Trainer(TransferNet(), [BackboneUnfreeze(unfreeze_at_epoch=1)]).fit(batches)


if __name__ == "__main__":
    main()
