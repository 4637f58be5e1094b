"""Train a small ResNet-style image classifier with mixed precision, gradient accumulation,
warmup + cosine schedule, EMA weights, checkpointing and periodic evaluation.

This is the benchmark's "pre-commit" file: the kind of script a person edits every day.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, random_split


@dataclass
class Config:
    data_dir: str = "data"
    out_dir: str = "runs/exp"
    epochs: int = 30
    batch_size: int = 128
    accum_steps: int = 2
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_steps: int = 500
    label_smoothing: float = 0.1
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    amp: bool = True
    seed: int = 0
    num_workers: int = 4
    log_every: int = 50
    eval_every: int = 1
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


class NpyImageDataset(Dataset):
    """Images and labels stored as two .npy arrays; light augmentation for training."""

    def __init__(self, root: str, split: str, augment: bool) -> None:
        self.images = np.load(os.path.join(root, f"{split}_images.npy"), mmap_mode="r")
        self.labels = np.load(os.path.join(root, f"{split}_labels.npy"))
        self.augment = augment
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1).float() / 255.0
        if self.augment:
            if random.random() < 0.5:
                image = image.flip(-1)
            pad = F.pad(image, (4, 4, 4, 4), mode="reflect")
            i, j = random.randint(0, 8), random.randint(0, 8)
            image = pad[:, i:i + image.shape[1], j:j + image.shape[2]]
        image = (image - self.mean) / self.std
        return image, int(self.labels[index])


class ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.SiLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(cin, cout, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        self.drop_path = 0.1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        if self.training and self.drop_path > 0:
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) > self.drop_path
            out = out * keep / (1 - self.drop_path)
        return F.silu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, widths: list[int], num_classes: int) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, widths[0])
        stages = []
        cin = widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(ResidualBlock(cin, w, stride), ResidualBlock(w, w, 1)))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)


class ModelEma:
    """Exponential moving average of the weights, used for evaluation."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.shadow)


def param_groups(model: nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, total: int, cfg: Config) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


class AverageMeter:
    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += value * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.total / max(1, self.count)


def train_one_epoch(model, loader, optimizer, scaler, ema, cfg, epoch, global_step, total_steps, device):
    model.train()
    loss_meter, acc_meter = AverageMeter(), AverageMeter()
    optimizer.zero_grad(set_to_none=True)
    start = time.time()
    for i, (images, targets) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.amp):
            logits = model(images)
            loss = F.cross_entropy(logits, targets, label_smoothing=cfg.label_smoothing)
        scaler.scale(loss / cfg.accum_steps).backward()

        if (i + 1) % cfg.accum_steps == 0:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(global_step, total_steps, cfg)
            scaler.unscale_(optimizer)
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            ema.update(model)
            global_step += 1
            if global_step % cfg.log_every == 0:
                elapsed = time.time() - start
                print(f"epoch {epoch} step {global_step} loss {loss_meter.avg:.4f} "
                      f"acc {acc_meter.avg:.3f} grad_norm {grad_norm.item():.2f} ({elapsed:.1f}s)")

        loss_meter.update(loss.item(), images.size(0))
        acc = (logits.argmax(dim=1) == targets).float().mean().item()
        acc_meter.update(acc, images.size(0))
    return global_step, loss_meter.avg, acc_meter.avg


@torch.no_grad()
def evaluate(model, loader, device) -> dict:
    model.eval()
    loss_meter, acc_meter = AverageMeter(), AverageMeter()
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        logits = model(images)
        loss = F.cross_entropy(logits, targets)
        loss_meter.update(loss.item(), images.size(0))
        acc_meter.update((logits.argmax(1) == targets).float().mean().item(), images.size(0))
    return {"loss": loss_meter.avg, "acc": acc_meter.avg}


def save_checkpoint(path: Path, model, optimizer, scaler, ema, epoch, global_step, cfg) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "ema": ema.shadow,
        "epoch": epoch,
        "global_step": global_step,
        "config": asdict(cfg),
    }, path)


def load_checkpoint(path: Path, model, optimizer, scaler, ema):
    state = torch.load(path, map_location="cpu")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    ema.shadow = state["ema"]
    return state["epoch"] + 1, state["global_step"]


def build_loaders(cfg: Config):
    full = NpyImageDataset(cfg.data_dir, "train", augment=True)
    n_val = len(full) // 20
    train_set, _ = random_split(full, [len(full) - n_val, n_val], generator=torch.Generator().manual_seed(cfg.seed))
    val_set = NpyImageDataset(cfg.data_dir, "val", augment=False)
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
                              pin_memory=True, drop_last=True, persistent_workers=cfg.num_workers > 0)
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size * 2, num_workers=cfg.num_workers)
    return train_loader, val_loader


def parse_args() -> Config:
    cfg = Config()
    parser = argparse.ArgumentParser(description=__doc__)
    for name, value in asdict(cfg).items():
        if isinstance(value, bool):
            parser.add_argument(f"--{name.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=value)
        elif not isinstance(value, list):
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--resume", type=str, default="")
    args = parser.parse_args()
    resume = args.__dict__.pop("resume")
    for name, value in vars(args).items():
        setattr(cfg, name, value)
    cfg.resume = resume
    return cfg


def main() -> None:
    cfg = parse_args()
    seed_everything(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader, val_loader = build_loaders(cfg)

    model = ResNet(cfg.widths, num_classes=10).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    scaler = torch.amp.GradScaler(enabled=cfg.amp and device.type == "cuda")
    ema = ModelEma(model, cfg.ema_decay)
    eval_model = ResNet(cfg.widths, num_classes=10).to(device)

    start_epoch, global_step = 0, 0
    out_dir = Path(cfg.out_dir)
    if cfg.resume:
        start_epoch, global_step = load_checkpoint(Path(cfg.resume), model, optimizer, scaler, ema)
    total_steps = cfg.epochs * len(train_loader) // cfg.accum_steps

    history = []
    best_acc = 0.0
    for epoch in range(start_epoch, cfg.epochs):
        global_step, train_loss, train_acc = train_one_epoch(
            model, train_loader, optimizer, scaler, ema, cfg, epoch, global_step, total_steps, device)
        record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
        if (epoch + 1) % cfg.eval_every == 0:
            ema.copy_to(eval_model)
            record.update({f"val_{k}": v for k, v in evaluate(eval_model, val_loader, device).items()})
            if record["val_acc"] > best_acc:
                best_acc = record["val_acc"]
                save_checkpoint(out_dir / "best.pt", model, optimizer, scaler, ema, epoch, global_step, cfg)
        save_checkpoint(out_dir / "last.pt", model, optimizer, scaler, ema, epoch, global_step, cfg)
        history.append(record)
        print(json.dumps(record))

    (out_dir / "history.json").write_text(json.dumps(history, indent=2))
    print(f"best val acc {best_acc:.4f}")


if __name__ == "__main__":
    main()
