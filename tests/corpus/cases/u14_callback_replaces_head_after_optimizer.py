import torch
import torch.nn as nn
import torch.nn.functional as F


class TextCNN(nn.Module):
    def __init__(self, vocab=80, dim=16, n_classes=6):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, 32, 3, padding=1)
        self.classifier = nn.Linear(32, n_classes)

    def forward(self, ids):
        h = F.relu(self.conv(self.embed(ids).transpose(1, 2)))
        return self.classifier(h.max(dim=-1).values)


class ResetClassifier:
    """Swap in a classifier sized for the downstream label set."""

    def __init__(self, n_classes):
        self.n_classes = n_classes

    def on_fit_start(self, trainer):
        old = trainer.model.classifier
        if old.out_features != self.n_classes:
            trainer.model.classifier = nn.Linear(old.in_features, self.n_classes)


class Trainer:
    def __init__(self, model, lr=2e-3, callbacks=()):
        self.model = model
        self.callbacks = list(callbacks)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)

    def fit(self, loader, epochs=2):
        for cb in self.callbacks:
            cb.on_fit_start(self)
        for epoch in range(epochs):
            for ids, labels in loader:
                self.optimizer.zero_grad()
                loss = F.cross_entropy(self.model(ids), labels)
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")


def main():
    torch.manual_seed(0)
    loader = [(torch.randint(0, 80, (8, 12)), torch.randint(0, 3, (8,))) for _ in range(4)]
    trainer = Trainer(TextCNN(n_classes=6), callbacks=[ResetClassifier(n_classes=3)])
    trainer.fit(loader)


if __name__ == "__main__":
    main()
