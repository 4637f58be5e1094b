import torch
import torch.nn as nn
import torch.nn.functional as F


def repackage(state):
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(repackage(s) for s in state)


class StatefulLM(nn.Module):
    def __init__(self, vocab=30, dim=12, hidden=24):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        self.hidden = None

    def forward(self, ids):
        if self.hidden is not None:
            self.hidden = repackage(self.hidden)
        out, self.hidden = self.lstm(self.embed(ids), self.hidden)
        return self.out(out)


def main():
    torch.manual_seed(0)
    model = StatefulLM()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    stream = torch.randint(0, 30, (4, 81))
    bptt = 8
    for i in range(0, stream.size(1) - 1 - bptt, bptt):
        logits = model(stream[:, i:i + bptt])
        loss = F.cross_entropy(logits.reshape(-1, 30), stream[:, i + 1:i + 1 + bptt].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"chunk {i // bptt} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
