"""Memory measurement: the bytes autograd saves for the backward (`counting_saved`), per benchmark
case with the CUDA peak, and for one training step of an SHD-like long-sequence network."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

import tritonsnn
from tritonsnn.bench.cases import Case, Runner


@contextlib.contextmanager
def counting_saved(exclude=()):
    """Within the block, record what autograd saves for the backward: yields a dict, storage ->
    bytes (distinct storages, so views of one tensor count once), without the storages of the
    tensors in `exclude` (parameters). Sum its values for the bytes saved."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in skip:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield seen


def saved_bytes(run: Runner, x: torch.Tensor, input_grad: bool = True) -> int:
    """Bytes the forward keeps for the backward (distinct storages, parameters excluded), its
    input requiring grad or not (`input_grad`)."""
    params = list(run.parameters()) if hasattr(run, "parameters") else []
    with counting_saved(params) as seen:
        out = run(x.detach().requires_grad_(input_grad))
    del out
    return sum(seen.values())


def memory(case: Case, run: Runner, x: torch.Tensor, device: torch.device, base: int = 0) -> dict:
    """Bytes saved for the backward, and on CUDA the peak allocated above `base` so far."""
    out = {"saved_bytes": saved_bytes(run, x, not case.data_input)}
    if device.type == "cuda":
        out["peak_bytes"] = torch.cuda.max_memory_allocated(device) - base
    return out


# --- activation memory of a long-sequence network (issue: long sequences) --------------------------

SHD = {"inputs": 700, "hidden": 256, "outputs": 20, "batch": 32}


def shd_network(impl: str, neuron: str = "leaky") -> nn.Module:
    """An SHD-like network, 700 -> 256 -> 256 -> 20 with `neuron` ("leaky" or "synaptic")
    layers, as each implementation builds it; forward(x: [T, B, 700] spikes) -> output spikes.
    "tritonsnn" saves 1-bit spikes (tritonsnn.nn.Linear) and bf16 membranes; "tritonsnn_fp32"
    is plain nn.Linear with tritonsnn's default neurons."""
    sizes = [SHD["inputs"], SHD["hidden"], SHD["hidden"], SHD["outputs"]]
    if impl in ("tritonsnn", "tritonsnn_fp32"):
        linear = tritonsnn.nn.Linear if impl == "tritonsnn" else nn.Linear
        save = torch.bfloat16 if impl == "tritonsnn" else None
        make = {"leaky": lambda: tritonsnn.Leaky(beta=0.95, step_mode="multi", save_dtype=save),
                "synaptic": lambda: tritonsnn.Synaptic(alpha=0.9, beta=0.95, step_mode="multi", save_dtype=save)}[neuron]
        layers = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            layers += [linear(n_in, n_out), make()]

        class Fused(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(layers)

            def forward(self, x):
                for i in range(0, len(self.layers), 2):
                    x = self.layers[i + 1](self.layers[i](x))[0]
                return x
        return Fused()
    if impl == "snntorch":
        import snntorch

        make = {"leaky": lambda: snntorch.Leaky(beta=0.95), "synaptic": lambda: snntorch.Synaptic(alpha=0.9, beta=0.95)}[neuron]

        class Stepped(nn.Module):
            def __init__(self):
                super().__init__()
                self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
                self.lifs = nn.ModuleList(make() for _ in self.fcs)

            def forward(self, x):
                states = [[lif.init_leaky()] if neuron == "leaky" else list(lif.init_synaptic())
                          for lif in self.lifs]
                out = []
                for x_t in x:
                    for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                        x_t, *states[i] = lif(fc(x_t), *states[i])
                    out.append(x_t)
                return torch.stack(out)
        return Stepped()
    if impl == "spikingjelly" and neuron == "leaky":
        from spikingjelly.activation_based import layer, neuron as sj_neuron, surrogate as sj_surrogate

        blocks = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            blocks += [layer.Linear(n_in, n_out, step_mode="m"),
                       sj_neuron.LIFNode(tau=20.0, decay_input=False, v_reset=None, detach_reset=True,
                                         surrogate_function=sj_surrogate.ATan(), step_mode="m")]
        return nn.Sequential(*blocks)
    raise ValueError(f"no {neuron} network for {impl}")


def activation_bytes(impl: str, neuron: str, T: int, batch: int = SHD["batch"]) -> dict:
    """One training step of `shd_network(impl, neuron)` on [T, batch, 700] binary spikes: the
    bytes saved for the backward (distinct storages, parameters excluded), and the loss."""
    torch.manual_seed(0)
    model = shd_network(impl, neuron)
    x = (torch.rand(T, batch, SHD["inputs"], generator=torch.Generator().manual_seed(1)) < 0.05).float()
    y = torch.arange(batch) % SHD["outputs"]
    with counting_saved(list(model.parameters())) as seen:
        loss = nn.functional.cross_entropy(model(x).sum(0), y)
    loss.backward()
    return {"impl": impl, "neuron": neuron, "T": T, "batch": batch, "saved_bytes": sum(seen.values()),
            "saved_bytes_per_neuron_step": sum(seen.values()) / (T * batch * (2 * SHD["hidden"] + SHD["outputs"]))}
