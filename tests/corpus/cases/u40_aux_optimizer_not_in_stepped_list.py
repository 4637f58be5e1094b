from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F


class SpeechEncoder(nn.Module):
    def __init__(self, n_mels=8, hidden=16, vocab=10):
        super().__init__()
        self.rnn = nn.GRU(n_mels, hidden, batch_first=True)
        self.ctc_out = nn.Linear(hidden, vocab)
        self.next_frame = nn.Linear(hidden, n_mels)

    def forward(self, feats):
        h, _ = self.rnn(feats)
        return self.ctc_out(h), self.next_frame(h)


def build_optimizers(model, cfg):
    main_params = list(model.rnn.parameters()) + list(model.ctc_out.parameters())
    optimizers = [torch.optim.Adam(main_params, lr=cfg.lr)]
    aux_opt = None
    if cfg.predict_next_frame:
        aux_opt = torch.optim.Adam(model.next_frame.parameters(), lr=cfg.lr * 0.5)
    return optimizers, aux_opt


def main():
    cfg = SimpleNamespace(lr=2e-3, predict_next_frame=True, aux_weight=0.3, steps=8)
    torch.manual_seed(0)
    model = SpeechEncoder()
    optimizers, aux_opt = build_optimizers(model, cfg)
    ctc = nn.CTCLoss(blank=0)
    for step in range(cfg.steps):
        feats = torch.randn(4, 12, 8)
        targets = torch.randint(1, 10, (4, 5))
        logits, pred = model(feats)
        log_probs = logits.log_softmax(-1).transpose(0, 1)
        loss = ctc(log_probs, targets, torch.full((4,), 12), torch.full((4,), 5))
        loss = loss + cfg.aux_weight * F.mse_loss(pred[:, :-1], feats[:, 1:])
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        for opt in optimizers:
            opt.step()
        print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
