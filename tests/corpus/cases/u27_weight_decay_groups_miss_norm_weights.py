import torch
import torch.nn as nn
import torch.nn.functional as F


class MiniGPTBlockLM(nn.Module):
    def __init__(self, vocab=48, dim=16, heads=2, seq=10):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(1, seq, dim))
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.final_norm = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.register_buffer("mask", torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1))

    def forward(self, ids):
        x = self.tok(ids) + self.pos[:, : ids.size(1)]
        h = self.attn_norm(x)
        x = x + self.attn(h, h, h, attn_mask=self.mask[: ids.size(1), : ids.size(1)], need_weights=False)[0]
        x = x + self.mlp(self.mlp_norm(x))
        return self.lm_head(self.final_norm(x))


def param_groups(model, weight_decay):
    decay = [p for n, p in model.named_parameters() if "norm" not in n and "bias" not in n]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def main():
    torch.manual_seed(0)
    model = MiniGPTBlockLM()
    optimizer = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.95))
    for step in range(8):
        batch = torch.randint(0, 48, (8, 11))
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 48), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
