"""The static pass end to end: realistic multi-function scripts on disk, `python -m graphlint --format json`.

One subprocess per case (four in all) keeps this file near two seconds.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                     nn.Linear(8, 32))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.embed(x))

    def embed(self, x):
        return self.encoder(x)
'''

BUGGY_TRAIN = MODEL + '''

def compute_loss(model, batch):
    images, labels = batch
    features = model.embed(images).detach()
    return F.cross_entropy(model.head(features), labels)


def train_epoch(model, optimizer, batches):
    running = 0.0
    for batch in batches:
        loss = compute_loss(model, batch)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        running += loss
    return running


def main():
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))) for _ in range(10)]
    for epoch in range(3):
        print(epoch, train_epoch(model, optimizer, batches))


if __name__ == "__main__":
    main()
'''

CLEAN_TRAIN = MODEL + '''

def compute_loss(model, batch):
    images, labels = batch
    return F.cross_entropy(model(images), labels)


@torch.no_grad()
def evaluate(model, batches):
    model.eval()
    correct = sum((model(x).argmax(dim=1) == y).sum().item() for x, y in batches)
    model.train()
    return correct / (8 * len(batches))


def train_epoch(model, optimizer, batches):
    running = 0.0
    for batch in batches:
        optimizer.zero_grad()
        loss = compute_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running += loss.item()
    return running / len(batches)


def main():
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))) for _ in range(10)]
    for epoch in range(3):
        print(epoch, train_epoch(model, optimizer, batches), evaluate(model, batches))


if __name__ == "__main__":
    main()
'''


def line_of(source: str, needle: str) -> int:
    return next(i for i, text in enumerate(source.splitlines(), 1) if needle in text)


def graphlint_json(*paths: Path, cwd: Path) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "graphlint", "--format", "json", *map(str, paths)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads(proc.stdout)


def test_buggy_training_script_reports_each_bug_at_its_line(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(BUGGY_TRAIN)
    code, report = graphlint_json(script, cwd=tmp_path)
    found = {(f["rule"], f["line"]) for f in report["findings"]}
    assert ("GL101", line_of(BUGGY_TRAIN, ".detach()")) in found
    assert ("GL201", line_of(BUGGY_TRAIN, "optimizer.zero_grad()")) in found
    assert ("GL401", line_of(BUGGY_TRAIN, "running += loss")) in found
    assert all(f["pass"] == "static" and f["path"].endswith("train.py") for f in report["findings"])
    assert report["errors"] == []
    assert code == 1


def test_bugs_split_across_files_are_found_through_imports(tmp_path):
    """The model lives in model.py with an unregistered layer list; train.py never clears gradients."""
    model_src = textwrap.dedent('''
        import torch.nn as nn


        class Tower(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [nn.Linear(16, 16) for _ in range(3)]
                self.out = nn.Linear(16, 1)

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x).relu()
                return self.out(x)
    ''')
    train_src = textwrap.dedent('''
        import torch
        import torch.nn.functional as F
        from model import Tower


        def fit(model, optimizer, steps):
            for step in range(steps):
                x, y = torch.randn(32, 16), torch.randn(32, 1)
                loss = F.mse_loss(model(x), y)
                loss.backward()
                optimizer.step()


        if __name__ == "__main__":
            net = Tower()
            fit(net, torch.optim.SGD(net.parameters(), lr=0.01), 100)
    ''')
    (tmp_path / "model.py").write_text(model_src)
    (tmp_path / "train.py").write_text(train_src)
    code, report = graphlint_json(Path("model.py"), Path("train.py"), cwd=tmp_path)
    found = {(f["rule"], f["path"], f["line"]) for f in report["findings"]}
    assert ("GL301", "model.py", line_of(model_src, "self.layers =")) in found
    assert ("GL203", "train.py", line_of(train_src, "optimizer.step()")) in found
    assert code == 1


def test_a_cut_in_a_package_module_is_found_through_a_relative_import(tmp_path):
    """pkg/train.py trains `Net` from `.model`; the cut sits in model.py, which alone has no loss."""
    model_src = textwrap.dedent('''
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = nn.Linear(16, 16)
                self.head = nn.Linear(16, 1)

            def forward(self, x):
                feats = self.backbone(x).detach()
                return self.head(feats)
    ''')
    train_src = textwrap.dedent('''
        import torch
        import torch.nn.functional as F

        from .model import Net


        def main():
            net = Net()
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            for _ in range(10):
                x, y = torch.randn(8, 16), torch.randn(8, 1)
                loss = F.mse_loss(net(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
    ''')
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(model_src)
    (package / "train.py").write_text(train_src)
    code, report = graphlint_json(Path("pkg"), cwd=tmp_path)
    found = {(f["rule"], f["path"], f["line"]) for f in report["findings"]}
    assert found == {("GL101", "pkg/model.py", line_of(model_src, ".detach()"))}
    assert code == 1


def test_clean_training_script_exits_zero(tmp_path):
    (tmp_path / "train.py").write_text(CLEAN_TRAIN)
    code, report = graphlint_json(tmp_path / "train.py", cwd=tmp_path)
    assert report["findings"] == []
    assert code == 0
