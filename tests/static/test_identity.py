"""Object identity: which model objects each optimizer holds, and which objects the loss is computed by.

Each case is a small training program checked by the CLI (files on disk, helpers in other modules
where the case says so). A bug case names the rule and the lines the finding and its related
location must be on; a correct twin must produce no finding at all.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from graphlint.cli import check_command

HEADER = """
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel


class Net(nn.Module):
    def __init__(self, n_in=8, n_out=3):
        super().__init__()
        self.embed = nn.Linear(n_in, 16)
        self.head = nn.Linear(16, n_out)

    def forward(self, x):
        return self.head(F.relu(self.embed(x)))

    def reset_head(self, n_out):
        self.head = nn.Linear(16, n_out, bias=True)

    @classmethod
    def restored(cls, path):
        model = cls()
        model.load_state_dict(torch.load(path))
        return model


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(3, 1)

    def forward(self, x):
        return self.body(x)


class Block(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(dim))
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 3)

    def forward(self, x):
        return self.fc(self.norm(x + self.pos))


def batches():
    for _ in range(10):
        yield torch.randn(4, 8), torch.randint(0, 3, (4,))

"""


def findings(tmp_path: Path, capsys, files: dict[str, str]) -> list[dict]:
    for name, text in files.items():
        body = textwrap.dedent(text)
        (tmp_path / name).write_text(HEADER + body if name == "train.py" or "HEADER" in body else body)
    capsys.readouterr()
    check_command(["--no-cache", "--format", "json", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    return out["findings"] if isinstance(out, dict) else out


def line_of(text: str, needle: str, files_header: bool = True) -> int:
    """The 1-based line of ``needle`` in train.py as written (the header included)."""
    full = HEADER + textwrap.dedent(text) if files_header else textwrap.dedent(text)
    return next(i for i, line in enumerate(full.splitlines(), 1) if needle in line)


# (name, train.py, other files, rule, the line the finding is on (a snippet), a related line (a snippet))
BUGS = [
    ("averaged_model_called_in_the_loop", """
        def main():
            net = Net()
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            averaged = AveragedModel(net)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(averaged(x), y).backward()
                opt.step()
                averaged.update_parameters(net)
        """, {}, "GL501", "opt = torch.optim.SGD", "averaged = AveragedModel(net)"),
    ("trainer_keeps_a_deep_copy_of_the_model_it_is_given", """
        class Fitter:
            def __init__(self, net, optimizer):
                self.net = copy.deepcopy(net)
                self.optimizer = optimizer

            def run(self):
                for x, y in batches():
                    self.optimizer.zero_grad()
                    F.cross_entropy(self.net(x), y).backward()
                    self.optimizer.step()


        def main():
            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            Fitter(model, optimizer).run()
        """, {}, "GL501", "optimizer = torch.optim.Adam", "self.net = copy.deepcopy(net)"),
    ("copy_made_by_a_helper_in_another_module", """
        from helpers import isolated


        def main():
            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            work = isolated(model)
            for x, y in batches():
                optimizer.zero_grad()
                loss = F.cross_entropy(work(x), y)
                loss.backward()
                optimizer.step()
        """, {"helpers.py": """
        import copy


        def isolated(model):
            return copy.deepcopy(model)
        """}, "GL501", "optimizer = torch.optim.Adam", None),
    ("ema_shadow_used_for_the_training_loss", """
        class Ema:
            def __init__(self, model, decay=0.99):
                self.shadow = copy.deepcopy(model)
                self.decay = decay


        def main():
            model = Net()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            ema = Ema(model)
            for x, y in batches():
                loss = F.cross_entropy(ema.shadow(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """, {}, "GL501", "opt = torch.optim.AdamW", "self.shadow = copy.deepcopy(model)"),
    ("embedding_swapped_in_by_a_helper_after_the_optimizer", """
        def build(model):
            return torch.optim.Adam(model.parameters(), lr=1e-3)


        def load_vectors(model):
            model.embed = nn.Embedding.from_pretrained(torch.randn(8, 16), freeze=False)


        def main():
            model = Net()
            opt = build(model)
            load_vectors(model)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """, {}, "GL501", "model.embed = nn.Embedding.from_pretrained", "return torch.optim.Adam"),
    ("parameter_reassigned_in_another_module_after_the_optimizer", """
        from init_tools import closed_form_head


        def main():
            model = Net()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            closed_form_head(model)
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """, {"init_tools.py": """
        import torch
        import torch.nn as nn


        def closed_form_head(model):
            model.head.weight = nn.Parameter(torch.zeros(3, 16))
        """}, "GL501", ("init_tools.py", "model.head.weight = nn.Parameter"), "optimizer = torch.optim.SGD"),
    ("head_reset_by_a_method_after_the_optimizer", """
        def main():
            model = Net()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            model.reset_head(3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """, {}, "GL501", "self.head = nn.Linear(16, n_out, bias=True)", "opt = torch.optim.Adam"),
    ("resume_rebinds_the_model_after_the_optimizer", """
        def setup(resume):
            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            if resume:
                model = Net.restored(resume)
            return model, optimizer


        def main():
            model, optimizer = setup("last.pt")
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """, {}, "GL501", "model = Net.restored(resume)", "optimizer = torch.optim.Adam"),
    ("model_rebuilt_by_a_loader_function_after_the_optimizer", """
        def load_model(path):
            net = Net()
            net.load_state_dict(torch.load(path))
            return net


        def main(path=None):
            net = Net()
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            if path is not None:
                net = load_model(path)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                opt.step()
        """, {}, "GL501", "net = load_model(path)", "opt = torch.optim.SGD"),
]

BUGS += [
    ("classifier_layer_replaced_by_index_after_the_optimizer", """
        class Vgg(nn.Module):
            def __init__(self):
                super().__init__()
                self.classifier = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

            def forward(self, x):
                return self.classifier(x)


        def main():
            model = Vgg()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            model.classifier[2] = nn.Linear(16, 3)
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """, {}, "GL501", "model.classifier[2] = nn.Linear(16, 3)", "optimizer = torch.optim.SGD"),
    ("whole_model_unpickled_by_a_helper_after_the_optimizer", """
        from checkpoints import restore


        def main(resume=None):
            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            if resume:
                model = restore(resume)
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """, {"checkpoints.py": """
        import torch


        def restore(path):
            return torch.load(path, weights_only=False)
        """}, "GL501", "model = restore(resume)", "optimizer = torch.optim.Adam"),
    ("optimizers_returned_in_swapped_order", """
        def make_optimizers(gen, critic):
            opt_c = torch.optim.Adam(critic.parameters(), lr=1e-3)
            opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3)
            return opt_c, opt_g


        def main():
            gen, critic = Net(), Critic()
            opt_g, opt_c = make_optimizers(gen, critic)
            for x, y in batches():
                fake = gen(x)
                opt_g.zero_grad()
                g_loss = -critic(fake).mean()
                g_loss.backward()
                opt_g.step()
                opt_c.zero_grad()
                c_loss = critic(fake.detach()).mean() - critic(torch.randn(4, 3)).mean()
                c_loss.backward()
                opt_c.step()
        """, {}, "GL201", "opt_c.zero_grad()", "opt_g = torch.optim.Adam(gen.parameters()"),
    ("decoder_optimizer_never_zeroed_inline", """
        def main():
            enc, dec = Net(8, 3), Critic()
            opt_enc = torch.optim.Adam(enc.parameters(), lr=1e-3)
            opt_dec = torch.optim.Adam(dec.parameters(), lr=1e-3)
            for x, y in batches():
                opt_enc.zero_grad()
                loss = dec(enc(x)).pow(2).mean()
                loss.backward()
                opt_enc.step()
                opt_dec.step()
        """, {}, "GL203", "opt_dec.step()", "opt_enc.zero_grad()"),
    ("list_of_optimizers_stepped_but_only_the_first_zeroed", """
        def main():
            enc, dec = Net(8, 3), Critic()
            optimizers = [torch.optim.Adam(enc.parameters(), lr=1e-3), torch.optim.Adam(dec.parameters(), lr=1e-3)]
            for x, y in batches():
                optimizers[0].zero_grad()
                dec(enc(x)).pow(2).mean().backward()
                for opt in optimizers:
                    opt.step()
        """, {}, "GL203", "opt.step()", "optimizers[0].zero_grad()"),
    ("only_the_encoder_module_zeroed_in_a_helper_module", """
        from loop import fit


        class AutoEncoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = Net(8, 3)
                self.decoder = Critic()

            def forward(self, x):
                return self.decoder(self.encoder(x))


        def main():
            model = AutoEncoder()
            enc_opt = torch.optim.SGD(model.encoder.parameters(), lr=0.1)
            dec_opt = torch.optim.SGD(model.decoder.parameters(), lr=0.1)
            fit(model, enc_opt, dec_opt)
        """, {"loop.py": """
        import torch


        def fit(model, enc_opt, dec_opt):
            for _ in range(10):
                x = torch.randn(4, 8)
                model.encoder.zero_grad()
                model(x).pow(2).mean().backward()
                enc_opt.step()
                dec_opt.step()
        """}, "GL203", ("loop.py", "dec_opt.step()"), None),
    ("generator_update_steps_the_critic_optimizer_from_a_dict", """
        class Gan:
            def __init__(self):
                self.gen, self.critic = Net(8, 3), Critic()
                self.opts = {"gen": torch.optim.Adam(self.gen.parameters(), lr=1e-3),
                             "critic": torch.optim.Adam(self.critic.parameters(), lr=1e-3)}

            def step(self, x):
                fake = self.gen(x)
                self.opts["critic"].zero_grad()
                self.critic(fake.detach()).mean().backward()
                self.opts["critic"].step()
                self.opts["gen"].zero_grad()
                (-self.critic(fake).mean()).backward()
                self.opts["critic"].step()


        def main():
            gan = Gan()
            for x, y in batches():
                gan.step(x)
        """, {}, "GL207", '"gen": torch.optim.Adam', None),
    ("generator_update_steps_the_critic_optimizer_attribute", """
        class Gan:
            def __init__(self):
                self.gen, self.critic = Net(8, 3), Critic()
                self.opt_gen = torch.optim.Adam(self.gen.parameters(), lr=1e-3)
                self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=1e-3)

            def step(self, x):
                fake = self.gen(x)
                self.opt_critic.zero_grad()
                self.critic(fake.detach()).mean().backward()
                self.opt_critic.step()
                self.opt_gen.zero_grad()
                (-self.critic(fake).mean()).backward()
                self.opt_critic.step()


        def main():
            gan = Gan()
            for x, y in batches():
                gan.step(x)
        """, {}, "GL207", "self.opt_gen = torch.optim.Adam", None),
    ("gan_class_in_another_module_steps_the_critic_twice", """
        from gan import Gan


        def main():
            gan = Gan(Net(8, 3), Critic())
            for x, y in batches():
                gan.step(x)
        """, {"gan.py": """
        import torch


        class Gan:
            def __init__(self, gen, critic):
                self.gen, self.critic = gen, critic
                self.opt_gen = torch.optim.Adam(gen.parameters(), lr=1e-3)
                self.opt_critic = torch.optim.Adam(critic.parameters(), lr=1e-3)

            def step(self, x):
                fake = self.gen(x)
                self.opt_critic.zero_grad()
                self.critic(fake.detach()).mean().backward()
                self.opt_critic.step()
                self.opt_gen.zero_grad()
                (-self.critic(fake).mean()).backward()
                self.opt_critic.step()
        """}, "GL207", ("gan.py", "self.opt_gen = torch.optim.Adam"), None),
    ("auxiliary_optimizer_left_out_of_the_stepped_list", """
        def build(model):
            main = [torch.optim.Adam(model.embed.parameters(), lr=1e-3)]
            aux = torch.optim.Adam(model.head.parameters(), lr=1e-3)
            return main, aux


        def main():
            model = Net()
            optimizers, aux = build(model)
            for x, y in batches():
                for opt in optimizers:
                    opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                for opt in optimizers:
                    opt.step()
        """, {}, "GL207", "aux = torch.optim.Adam", None),
    ("second_optimizer_of_a_pair_zeroed_but_never_stepped", """
        def make(model):
            return torch.optim.SGD(model.embed.parameters(), lr=0.1), torch.optim.SGD(model.head.parameters(), lr=0.1)


        def main():
            model = Net()
            body_opt, head_opt = make(model)
            for x, y in batches():
                body_opt.zero_grad()
                head_opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                body_opt.step()
        """, {}, "GL207", "return torch.optim.SGD(model.embed", None),
    ("weight_decay_groups_miss_the_norm_weights", """
        def groups(model):
            decay = [p for n, p in model.named_parameters() if "norm" not in n and "bias" not in n]
            no_decay = [p for n, p in model.named_parameters() if "bias" in n]
            return [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]


        def main():
            model = Block()
            opt = torch.optim.AdamW(groups(model), lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """, {}, "GL501", "opt = torch.optim.AdamW", 'decay = [p for n, p in model.named_parameters() if "norm"'),
    ("no_decay_list_and_an_extra_test_leave_the_position_out", """
        def main():
            model = Block()
            no_decay = ["bias", "norm.weight"]
            params = [
                {"params": [p for n, p in model.named_parameters()
                            if not any(nd in n for nd in no_decay) and n != "pos"], "weight_decay": 0.01},
                {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
                 "weight_decay": 0.0},
            ]
            opt = torch.optim.AdamW(params, lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """, {}, "GL501", "opt = torch.optim.AdamW", None),
    ("groups_appended_in_a_loop_leave_the_norm_weights_out", """
        def configure(model, wd):
            decay, no_decay = [], []
            for name, param in model.named_parameters():
                if name.endswith("bias"):
                    no_decay.append(param)
                elif "norm" not in name:
                    decay.append(param)
            return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


        def main():
            model = Block()
            opt = torch.optim.AdamW(configure(model, 0.05), lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """, {}, "GL501", "opt = torch.optim.AdamW", None),
    ("groups_by_suffix_leave_a_bare_parameter_out", """
        def main():
            model = Block()
            decay = [p for n, p in model.named_parameters() if n.endswith(".weight")]
            plain = [p for n, p in model.named_parameters() if n.endswith(".bias")]
            opt = torch.optim.AdamW([{"params": decay}, {"params": plain, "weight_decay": 0.0}], lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """, {}, "GL501", "opt = torch.optim.AdamW", None),
]

BUGS += [
    ("head_replaced_by_a_callback_after_the_trainer_built_the_optimizer", """
        from callbacks import ResizeHead


        class Trainer:
            def __init__(self, model, callbacks):
                self.model = model
                self.callbacks = callbacks
                self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

            def fit(self):
                for cb in self.callbacks:
                    cb.on_fit_start(self)
                for x, y in batches():
                    self.optimizer.zero_grad()
                    F.cross_entropy(self.model(x), y).backward()
                    self.optimizer.step()


        def main():
            Trainer(Net(), [ResizeHead(3)]).fit()
        """, {"callbacks.py": """
        import torch.nn as nn


        class ResizeHead:
            def __init__(self, classes):
                self.classes = classes

            def on_fit_start(self, trainer):
                trainer.model.head = nn.Linear(16, self.classes)
        """}, "GL501", ("callbacks.py", "trainer.model.head = nn.Linear"), None),
]

BUGS += [
    ("step_after_the_zeroing_loop_runs_only_the_last_optimizer", """
        def main():
            net = Net()
            optimizers = [torch.optim.Adam(net.embed.parameters()), torch.optim.SGD(net.head.parameters(), lr=0.1)]
            for x, y in batches():
                for opt in optimizers:
                    opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                opt.step()
        """, {}, "GL207", "opt.step()", "for opt in optimizers:"),
]

TWINS = {
    "step_inside_its_own_loop_over_the_optimizers": """
        def main():
            net = Net()
            optimizers = [torch.optim.Adam(net.embed.parameters()), torch.optim.SGD(net.head.parameters(), lr=0.1)]
            for x, y in batches():
                for opt in optimizers:
                    opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                for opt in optimizers:
                    opt.step()
        """,
    "step_after_a_loop_over_a_single_optimizer": """
        def main():
            net = Net()
            optimizers = [torch.optim.Adam(net.parameters())]
            for x, y in batches():
                for opt in optimizers:
                    opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                opt.step()
        """,
    "head_replaced_by_a_callback_before_the_trainer_builds_the_optimizer": """
        class ResizeHead:
            def __init__(self, classes):
                self.classes = classes

            def on_fit_start(self, trainer):
                trainer.model.head = nn.Linear(16, self.classes)


        class Trainer:
            def __init__(self, model, callbacks):
                self.model = model
                self.callbacks = callbacks

            def fit(self):
                for cb in self.callbacks:
                    cb.on_fit_start(self)
                self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
                for x, y in batches():
                    self.optimizer.zero_grad()
                    F.cross_entropy(self.model(x), y).backward()
                    self.optimizer.step()


        def main():
            Trainer(Net(), [ResizeHead(3)]).fit()
        """,
    "averaged_model_used_only_for_evaluation": """
        def main():
            net = Net()
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            averaged = AveragedModel(net)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(net(x), y).backward()
                opt.step()
                averaged.update_parameters(net)
            with torch.no_grad():
                print(averaged(torch.randn(4, 8)))
        """,
    "ema_copy_evaluated_without_grad": """
        def main():
            model = Net()
            ema = copy.deepcopy(model)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            for x, y in batches():
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    for e, p in zip(ema.parameters(), model.parameters()):
                        e.mul_(0.99).add_(p, alpha=0.01)
                    val = F.cross_entropy(ema(x), y)
        """,
    "deep_copy_made_before_the_optimizer_is_built_on_it": """
        def main():
            base = Net()
            model = copy.deepcopy(base)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "mean_teacher_copy_in_the_loss_beside_the_student": """
        def main():
            student = Net()
            teacher = copy.deepcopy(student)
            opt = torch.optim.Adam(student.parameters(), lr=1e-3)
            for x, y in batches():
                consistency = F.mse_loss(student(x), teacher(x))
                loss = F.cross_entropy(student(x), y) + consistency
                opt.zero_grad()
                loss.backward()
                opt.step()
        """,
    "optimizer_rebuilt_after_the_head_is_replaced": """
        def main():
            model = Net()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            model.reset_head(5)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "head_replaced_before_the_optimizer_by_a_helper": """
        def swap_head(model):
            model.head = nn.Linear(16, 3)


        def main():
            model = Net()
            swap_head(model)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "head_wrapped_with_dropout_after_the_optimizer": """
        def add_dropout(model, p):
            model.head = nn.Sequential(nn.Dropout(p), model.head)


        def main():
            model = Net()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            add_dropout(model, 0.1)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "new_head_added_as_a_parameter_group": """
        def main():
            model = Net()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            model.reset_head(5)
            opt.add_param_group({"params": model.head.parameters()})
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "pretrained_table_copied_in_place": """
        def load_vectors(model):
            with torch.no_grad():
                model.embed.weight.copy_(torch.randn(16, 8))


        def main():
            model = Net()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            load_vectors(model)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "model_moved_and_compiled_after_the_optimizer": """
        def main():
            model = Net()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            model = model.to("cpu")
            model = torch.compile(model)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "resume_loads_state_into_the_same_model": """
        def setup(resume):
            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            if resume:
                model.load_state_dict(torch.load(resume))
            return model, optimizer


        def main():
            model, optimizer = setup("last.pt")
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """,
    "resume_rebuilds_the_optimizer_for_the_restored_model": """
        def setup(resume):
            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            if resume:
                model = Net.restored(resume)
                optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            return model, optimizer


        def main():
            model, optimizer = setup("last.pt")
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """,
    "best_model_restored_after_training_for_evaluation": """
        def main():
            model = Net()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
            model = Net.restored("best.pt")
            with torch.no_grad():
                print(model(torch.randn(2, 8)))
        """,
    "gan_optimizers_each_zeroed_and_stepped": """
        def main():
            gen, critic = Net(8, 3), Critic()
            opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3)
            opt_c = torch.optim.Adam(critic.parameters(), lr=1e-3)
            for x, y in batches():
                fake = gen(x)
                opt_c.zero_grad()
                (critic(fake.detach()).mean() - critic(torch.randn(4, 3)).mean()).backward()
                opt_c.step()
                opt_g.zero_grad()
                (-critic(fake).mean()).backward()
                opt_g.step()
        """,
    "both_optimizers_cleared_through_the_model": """
        class AutoEncoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = Net(8, 3)
                self.decoder = Critic()

            def forward(self, x):
                return self.decoder(self.encoder(x))


        def main():
            model = AutoEncoder()
            enc_opt = torch.optim.SGD(model.encoder.parameters(), lr=0.1)
            dec_opt = torch.optim.SGD(model.decoder.parameters(), lr=0.1)
            for x, y in batches():
                model.zero_grad()
                model(x).pow(2).mean().backward()
                enc_opt.step()
                dec_opt.step()
        """,
    "list_of_optimizers_each_zeroed_and_stepped": """
        def main():
            enc, dec = Net(8, 3), Critic()
            optimizers = [torch.optim.Adam(enc.parameters(), lr=1e-3), torch.optim.Adam(dec.parameters(), lr=1e-3)]
            for x, y in batches():
                for opt in optimizers:
                    opt.zero_grad()
                dec(enc(x)).pow(2).mean().backward()
                for opt in optimizers:
                    opt.step()
        """,
    "pair_of_optimizers_zeroed_in_a_tuple_loop": """
        def main():
            enc, dec = Net(8, 3), Critic()
            opt_enc = torch.optim.Adam(enc.parameters(), lr=1e-3)
            opt_dec = torch.optim.Adam(dec.parameters(), lr=1e-3)
            for x, y in batches():
                for opt in (opt_enc, opt_dec):
                    opt.zero_grad()
                dec(enc(x)).pow(2).mean().backward()
                opt_enc.step()
                opt_dec.step()
        """,
    "optimizers_returned_to_a_framework": """
        import lightning.pytorch as pl


        class Lit(pl.LightningModule):
            def __init__(self):
                super().__init__()
                self.gen, self.critic = Net(8, 3), Critic()

            def training_step(self, batch, i):
                return -self.critic(self.gen(batch[0])).mean()

            def configure_optimizers(self):
                return [torch.optim.Adam(self.gen.parameters()), torch.optim.Adam(self.critic.parameters())]
        """,
    "auxiliary_optimizer_handed_to_a_trainer": """
        from somelib import Trainer


        def main():
            model = Net()
            main_opt = torch.optim.Adam(model.embed.parameters(), lr=1e-3)
            aux_opt = torch.optim.Adam(model.head.parameters(), lr=1e-3)
            trainer = Trainer(aux_optimizer=aux_opt)
            for x, y in batches():
                main_opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                main_opt.step()
                trainer.after_step()
        """,
    "every_optimizer_of_a_dict_stepped_by_key": """
        class Gan:
            def __init__(self):
                self.gen, self.critic = Net(8, 3), Critic()
                self.opts = {"gen": torch.optim.Adam(self.gen.parameters(), lr=1e-3),
                             "critic": torch.optim.Adam(self.critic.parameters(), lr=1e-3)}

            def update(self, name, loss):
                self.opts[name].zero_grad()
                loss.backward()
                self.opts[name].step()

            def step(self, x):
                fake = self.gen(x)
                self.update("critic", self.critic(fake.detach()).mean())
                self.update("gen", -self.critic(fake).mean())


        def main():
            gan = Gan()
            for x, y in batches():
                gan.step(x)
        """,
    "optimizers_stepped_through_a_grad_scaler": """
        def main():
            model = Net()
            opt_a = torch.optim.Adam(model.embed.parameters(), lr=1e-3)
            opt_b = torch.optim.Adam(model.head.parameters(), lr=1e-3)
            scaler = torch.amp.GradScaler()
            for x, y in batches():
                opt_a.zero_grad()
                opt_b.zero_grad()
                scaler.scale(F.cross_entropy(model(x), y)).backward()
                scaler.step(opt_a)
                scaler.step(opt_b)
                scaler.update()
        """,
    "classifier_layer_replaced_by_index_before_the_optimizer": """
        class Vgg(nn.Module):
            def __init__(self):
                super().__init__()
                self.classifier = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

            def forward(self, x):
                return self.classifier(x)


        def main():
            model = Vgg()
            model.classifier[2] = nn.Linear(16, 3)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """,
    "helper_loads_weights_into_the_model_it_is_given_and_returns_it": """
        def load_weights(model, path):
            model.load_state_dict(torch.load(path))
            return model


        def main(resume=None):
            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            if resume:
                model = load_weights(model, resume)
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """,
    "checkpoint_dict_loaded_into_the_same_model": """
        def main(resume=None):
            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            if resume:
                state = torch.load(resume)
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
            for x, y in batches():
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        """,
    "decay_groups_that_complement_each_other": """
        def main():
            model = Block()
            no_decay = ["bias", "norm.weight"]
            params = [
                {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
                 "weight_decay": 0.01},
                {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
                 "weight_decay": 0.0},
            ]
            opt = torch.optim.AdamW(params, lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "groups_appended_in_a_loop_with_an_else": """
        def main():
            model = Block()
            decay, no_decay = [], []
            for name, param in model.named_parameters():
                if name.endswith("bias") or "norm" in name:
                    no_decay.append(param)
                else:
                    decay.append(param)
            opt = torch.optim.AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "frozen_parameters_skipped_in_the_group_loop": """
        def main():
            model = Block()
            model.norm.requires_grad_(False)
            decay, no_decay = [], []
            for name, param in model.named_parameters():
                if not param.requires_grad:
                    continue
                if name.endswith("bias"):
                    no_decay.append(param)
                elif "norm" not in name:
                    decay.append(param)
            opt = torch.optim.AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
    "decay_groups_split_by_parameter_shape": """
        def main():
            model = Block()
            decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
            no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
            opt = torch.optim.AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
            for x, y in batches():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        """,
}


@pytest.mark.parametrize("name, train, others, rule, at, related", BUGS, ids=[b[0] for b in BUGS])
def test_identity_bug_is_reported_where_decided(tmp_path, capsys, name, train, others, rule, at, related):
    found = findings(tmp_path, capsys, {"train.py": train, **others})
    where, at = at if isinstance(at, tuple) else ("train.py", at)
    text = others.get(where, train)
    ours = [f for f in found if f["rule"] == rule and f["path"].endswith(where)]
    assert [f["line"] for f in ours] == [line_of(text, at, where == "train.py")], found
    if related is not None:
        assert line_of(train, related) in [r["line"] for r in ours[0]["related"]]


@pytest.mark.parametrize("name", sorted(TWINS))
def test_identity_twin_is_silent(tmp_path, capsys, name):
    assert findings(tmp_path, capsys, {"train.py": TWINS[name]}) == []
