import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = {
    "model": {"vocab": 50, "dim": 16, "classes": 3},
    "optim": {"lr": 3e-3, "backbone_lr": 1e-3, "weight_decay": 0.0},
    "train": {"steps": 10, "batch_size": 8, "seq_len": 12},
}


class BagOfWordsClassifier(nn.Module):
    def __init__(self, vocab, dim, classes):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.proj = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, classes)

    def forward(self, tokens):
        return self.classifier(torch.tanh(self.proj(self.embed(tokens))))


def build_optimizer(model, cfg):
    opt_cfg = cfg["optim"]
    backbone_lr = opt_cfg.get("lr_backbone", 0.0)
    groups = [
        {"params": list(model.embed.parameters()) + list(model.proj.parameters()), "lr": backbone_lr},
        {"params": model.classifier.parameters()},
    ]
    return torch.optim.Adam(groups, lr=opt_cfg["lr"], weight_decay=opt_cfg["weight_decay"])


def main():
    torch.manual_seed(0)
    mcfg, tcfg = CONFIG["model"], CONFIG["train"]
    model = BagOfWordsClassifier(mcfg["vocab"], mcfg["dim"], mcfg["classes"])
    optimizer = build_optimizer(model, CONFIG)
    for step in range(tcfg["steps"]):
        tokens = torch.randint(0, mcfg["vocab"], (tcfg["batch_size"], tcfg["seq_len"]))
        labels = tokens[:, 0] % mcfg["classes"]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tokens), labels)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
