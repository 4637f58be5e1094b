import torch
import torch.nn as nn
import torch.nn.functional as F


class LossSmoother:
    def __init__(self, beta=0.98):
        self.beta = beta
        self.value = None
        self.steps = 0

    def __call__(self, loss):
        self.steps += 1
        if self.value is None:
            self.value = loss
        else:
            self.value = self.beta * self.value + (1 - self.beta) * loss
        return self.value / (1 - self.beta ** self.steps)


class TinyTransformerLM(nn.Module):
    def __init__(self, vocab=40, dim=16):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.block = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        self.out = nn.Linear(dim, vocab)

    def forward(self, ids):
        mask = nn.Transformer.generate_square_subsequent_mask(ids.size(1))
        return self.out(self.block(self.tok(ids), src_mask=mask, is_causal=True))


def main():
    torch.manual_seed(0)
    model = TinyTransformerLM()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    smoother = LossSmoother()
    for step in range(10):
        batch = torch.randint(0, 40, (8, 9))
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 40), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        smoothed = smoother(loss)
        if step % 3 == 0:
            print(f"step {step} loss {loss.item():.4f} smoothed {smoothed.item():.4f}")


if __name__ == "__main__":
    main()
