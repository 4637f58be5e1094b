import torch
import torch.nn as nn
import torch.nn.functional as F


def detach_state(state):
    if isinstance(state, tuple):
        return tuple(detach_state(s) for s in state)
    return state.detach()


class Seq2SeqGRU(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, dim=24, chunk=4):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, dim)
        self.encoder = nn.GRU(dim, dim, batch_first=True)
        self.tgt_embed = nn.Embedding(tgt_vocab, dim)
        self.decoder = nn.GRU(dim, dim, batch_first=True)
        self.generator = nn.Linear(dim, tgt_vocab)
        self.chunk = chunk

    def forward(self, src, tgt_in):
        _, state = self.encoder(self.src_embed(src))
        logits = []
        for start in range(0, tgt_in.size(1), self.chunk):
            state = detach_state(state)
            out, state = self.decoder(self.tgt_embed(tgt_in[:, start:start + self.chunk]), state)
            logits.append(self.generator(out))
        return torch.cat(logits, dim=1)


class Seq2SeqTrainer:
    def __init__(self, model, lr=3e-3, pad=0):
        self.model = model
        self.pad = pad
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def train_batch(self, src, tgt):
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
        logits = self.model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1), ignore_index=self.pad)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


def main():
    torch.manual_seed(0)
    trainer = Seq2SeqTrainer(Seq2SeqGRU(src_vocab=30, tgt_vocab=30))
    src = torch.randint(1, 30, (16, 7))
    tgt = torch.cat([torch.ones(16, 1, dtype=torch.long), src.flip(1), torch.zeros(16, 2, dtype=torch.long)], dim=1)
    for epoch in range(3):
        for s, t in zip(src.split(8), tgt.split(8)):
            loss = trainer.train_batch(s, t)
        print(f"epoch {epoch} loss {loss:.4f}")


if __name__ == "__main__":
    main()
