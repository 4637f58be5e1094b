"""The PyTorch vocabulary of the static pass: which qualified names mean what.

Everything here is data about torch's API, matched against the names that engine/scopes.py resolves
through the file's imports, so `from torch import no_grad as ng` is still `torch.no_grad`.
"""
from __future__ import annotations

# Context managers and decorators that switch grad mode off.
NO_GRAD_CONTEXTS = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                              "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode"})
SET_GRAD_ENABLED = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled",
                              "torch.autograd.grad_mode.set_grad_enabled"})

# Methods that cut a tensor out of the graph, by category.
DETACH_METHODS = frozenset({"detach", "detach_"})
SCALAR_METHODS = frozenset({"item", "tolist", "numpy"})
SCALAR_BUILTINS = frozenset({"float", "int", "bool", "complex", "round", "builtins.float", "builtins.int",
                             "builtins.bool", "builtins.complex", "builtins.round"})
# Builtins that return tensors when given tensors (sum(losses) keeps the graph).
TENSOR_BUILTINS = frozenset({"sum", "max", "min", "abs", "pow"})
# Builtins that regroup the objects they are given (no value is computed).
CONTAINER_BUILTINS = frozenset(f"builtins.{n}" for n in ("list", "tuple", "set", "frozenset", "dict", "sorted",
                                                        "reversed", "iter", "next", "enumerate", "zip", "filter"))
# Builtins whose results are never tensors.
VALUELESS_BUILTINS = frozenset(f"builtins.{n}" for n in (
    "isinstance", "issubclass", "len", "hasattr", "callable", "id", "type", "str", "repr", "print", "format",
    "hash", "any", "all", "range", "ord", "chr", "vars", "dir", "open", "bin", "hex", "oct", "ascii"))
# Methods whose results hold parts of their receiver (submodules, parameters, buffers), not values computed from it.
PART_METHODS = frozenset({"modules", "named_modules", "children", "named_children", "parameters", "named_parameters",
                          "buffers", "named_buffers", "state_dict"})
# Attributes that describe a tensor or object rather than hold a value on the graph (gradients included).
METADATA_ATTRIBUTES = frozenset({"grad", "shape", "ndim", "dtype", "device", "requires_grad", "is_cuda", "__class__",
                                 "__name__", "__qualname__", "__module__", "__doc__"})
# Methods and attributes whose results are sizes, not values on the graph.
SHAPE_METHODS = frozenset({"numel", "size", "dim", "ndimension", "nelement", "element_size", "stride",
                           "data_ptr", "get_device", "is_contiguous"})
NONDIFF_METHODS = frozenset({"argmax", "argmin", "round", "round_", "sign", "sign_", "floor", "floor_",
                             "ceil", "ceil_", "trunc", "long", "int", "short", "bool", "byte", "char",
                             "eq", "ne", "gt", "lt", "ge", "le", "argsort", "heaviside"})
NONDIFF_FUNCTIONS = frozenset({f"torch.{n}" for n in ("argmax", "argmin", "round", "sign", "floor",
                                                         "ceil", "trunc", "eq", "ne", "gt", "lt", "ge",
                                                         "le", "argsort", "heaviside", "bucketize")})
# Fresh leaves built from values: a copy that has no history.
REWRAP_FUNCTIONS = frozenset({"torch.tensor", "torch.from_numpy", "torch.FloatTensor", "torch.DoubleTensor",
                              "torch.LongTensor", "torch.HalfTensor", "torch.cuda.FloatTensor",
                              "numpy.array", "numpy.asarray"})
# torch.Tensor(x) of one tensor keeps the graph; torch.Tensor([a, b]) of a list copies.
LIST_REWRAP_FUNCTIONS = frozenset({"torch.Tensor"})

# Modules whose constructors create parameters (parameter-free layers are left out on purpose:
# cutting their output cuts nothing trainable).
PARAMETERIZED_NN = frozenset(f"torch.nn.{n}" for n in (
    "Linear", "Bilinear", "LazyLinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d", "Embedding", "EmbeddingBag",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm", "RMSNorm",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell",
    "RNNCell", "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "PReLU", "Parameter", "ParameterList",
    "ParameterDict", "Sequential", "ModuleList", "ModuleDict",
))
PARAMETER_CONSTRUCTORS = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
MODULE_CONTAINERS = frozenset({"torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict",
                               "torch.nn.ParameterList", "torch.nn.ParameterDict"})
MODULE_BASES = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module", "pytorch_lightning.LightningModule",
                          "lightning.LightningModule", "lightning.pytorch.LightningModule",
                          "pytorch_lightning.core.LightningModule", "lightning.pytorch.core.LightningModule"})
LIGHTNING_BASES = frozenset(b for b in MODULE_BASES if "ightning" in b)

# Calls whose first argument is the loss that gradients flow from.
FUNCTION_SINKS = frozenset({"torch.autograd.backward", "torch.autograd.grad"})
METHOD_SINKS = frozenset({"backward", "manual_backward"})  # loss.backward(), accelerator.backward(loss)

# Functions that return their first argument's object, or a wrapper that shares its parameters.
SAME_OBJECT_FUNCTIONS = frozenset({
    "torch.compile", "torch.jit.script", "torch.jit.trace", "torch.nn.DataParallel", "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel",
    "torch.distributed.fsdp.FullyShardedDataParallel", "torch.distributed.fsdp.fully_shard",
    "torch.distributed.fsdp.fully_sharded_data_parallel.FullyShardedDataParallel",
    "torch.distributed._composable.fsdp.fully_shard",
})
# Copies: an object of the same class with parameters of its own (a target network, an EMA teacher).
COPY_FUNCTIONS = frozenset({"copy.deepcopy", "copy.copy"})
SAME_OBJECT_METHODS = frozenset({"to", "cuda", "cpu", "train", "eval", "half", "float", "double", "bfloat16",
                                 "requires_grad_", "type", "share_memory"})

OPTIMIZER_PREFIXES = ("torch.optim.", "bitsandbytes.optim.", "apex.optimizers.", "timm.optim.", "transformers.")
GRADSCALER_NAMES = frozenset({"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"})
CLIP_FUNCTIONS = frozenset({"torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_",
                            "torch.nn.utils.clip_grad.clip_grad_norm_", "torch.nn.utils.clip_grad.clip_grad_value_"})
LAMBDA_SCHEDULERS = frozenset({"torch.optim.lr_scheduler.LambdaLR", "torch.optim.lr_scheduler.MultiplicativeLR"})


def is_optimizer(qualified: str) -> bool:
    """An optimizer constructor: torch.optim.Adam, bitsandbytes.optim.AdamW8bit, ...; not schedulers."""
    if "lr_scheduler" in qualified or "swa_utils" in qualified:
        return False
    last = qualified.rsplit(".", 1)[-1]
    return qualified.startswith(OPTIMIZER_PREFIXES) and last[:1].isupper() and last not in ("Optimizer", "GradScaler")
