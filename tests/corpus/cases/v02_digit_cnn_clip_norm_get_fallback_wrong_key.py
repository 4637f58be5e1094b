import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

CONFIG = {
    "lr": 1e-3,
    "epochs": 2,
    "batch_size": 16,
    "grad_clip": 1.0,
}


class DigitCNN(nn.Module):
    def __init__(self, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, n_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def clip_gradients(model, cfg):
    max_norm = cfg.get("max_grad_norm", 0.0)
    return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)


def train(model, loader, cfg):
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    for epoch in range(cfg["epochs"]):
        seen, running = 0, 0.0
        for images, labels in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            grad_norm = clip_gradients(model, cfg)
            optimizer.step()
            running += loss.item() * len(images)
            seen += len(images)
        print(f"epoch {epoch} loss {running / seen:.4f} grad_norm {grad_norm:.3f}")


def main():
    torch.manual_seed(0)
    images = torch.randn(64, 1, 16, 16)
    labels = torch.randint(0, 10, (64,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=CONFIG["batch_size"], shuffle=True, num_workers=0)
    train(DigitCNN(), loader, CONFIG)


if __name__ == "__main__":
    main()
