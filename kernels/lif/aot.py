"""The LIF family's kernels for ahead-of-time compilation (`python -m tritonsnn.aot`): the flags
their variants are formed from, and the time-loop memory traffic each main case must show."""
from tritonsnn._aot_spec import KernelFlags, Traffic
from tritonsnn.kernels.codes import RESET_CODES, RESET_SUBTRACT

_CORE = {"RESET": tuple(RESET_CODES.values()), "RESET_DELAY": (True, False), "RESET_INPUT": (True, False),
         "SYNAPTIC": (True, False)}
LEAKY, SYNAPTIC = (RESET_SUBTRACT, True, False, False), (RESET_SUBTRACT, True, True, True)  # the default cores
_REQUIRES = {"HAS_SYN0": "SYNAPTIC", "HAS_GI": "SYNAPTIC", "ALPHA_GRAD": "SYNAPTIC", "GM_BCAST": "HAS_GM"}

FWD = KernelFlags(
    "lif_fwd_kernel", __package__ + ".kernels",
    core=_CORE, presence=("HAS_MEM0", "HAS_SYN0", "HAS_LEN"), defaults=(LEAKY, SYNAPTIC),
    pointers={"x_ptr": "data", "mem0_ptr": "data", "syn0_ptr": "data", "alpha_ptr": "param",
              "decay_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param", "len_ptr": "i64",
              "spk_ptr": "spike", "mem_ptr": "state", "h_ptr": "state", "syn_ptr": "state"},
    optional=(("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_SYN0", False, ("syn0_ptr",)),
              ("HAS_LEN", False, ("len_ptr",)),
              ("RESET_DELAY", True, ("h_ptr",)), ("SYNAPTIC", False, ("alpha_ptr", "syn_ptr"))),
    requires=_REQUIRES)
BWD = KernelFlags(
    "lif_bwd_kernel", __package__ + ".kernels",
    core=_CORE, defaults=(LEAKY, SYNAPTIC), surrogate=True, requires=_REQUIRES,
    presence=("HAS_MEM0", "HAS_SYN0", "HAS_GM", "HAS_GI", "PARAM_GRAD", "ALPHA_GRAD", "GS_BCAST", "GM_BCAST",
              "HAS_LEN", "HAS_MAPS"),
    pointers={"gs_ptr": "data", "gm_ptr": "state", "gi_ptr": "state", "mem_ptr": "state",
              "h_ptr": "state", "syn_ptr": "state", "mem0_ptr": "data", "syn0_ptr": "data",
              "alpha_ptr": "param", "decay_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param",
              "sg_ptr": "sg", "seed_ptr": "seed", "len_ptr": "i64", "dx_ptr": "data", "dmem0_ptr": "data",
              "dsyn0_ptr": "data", "dalpha_ptr": "acc", "ddecay_ptr": "acc", "dthr_ptr": "acc", "dgsf_ptr": "acc",
              "maps_ptr": "acc"},
    optional=(("HAS_MEM0", False, ("mem0_ptr", "dmem0_ptr")), ("HAS_SYN0", False, ("syn0_ptr", "dsyn0_ptr")),
              ("HAS_LEN", False, ("len_ptr",)),
              ("RESET_DELAY", True, ("h_ptr",)),
              ("SYNAPTIC", False, ("alpha_ptr", "gi_ptr", "syn_ptr", "dalpha_ptr")),
              ("HAS_GM", False, ("gm_ptr",)), ("HAS_GI", False, ("gi_ptr",)),
              ("ALPHA_GRAD", False, ("syn_ptr", "dalpha_ptr")),
              ("PARAM_GRAD", False, ("ddecay_ptr", "dthr_ptr", "dgsf_ptr")), ("HAS_MAPS", False, ("maps_ptr",))))
# Pass 1 of the chunked backward: each chunk's carry map.
BWD_MAP = KernelFlags(
    "lif_bwd_map_kernel", __package__ + ".kernels",
    core=_CORE, defaults=(LEAKY, SYNAPTIC), surrogate=True, requires=_REQUIRES,
    presence=("HAS_MEM0", "HAS_GM", "HAS_GI", "GS_BCAST", "GM_BCAST", "HAS_LEN"),
    pointers={"gs_ptr": "data", "gm_ptr": "state", "gi_ptr": "state", "mem_ptr": "state", "h_ptr": "state",
              "mem0_ptr": "data", "alpha_ptr": "param", "decay_ptr": "param", "thr_ptr": "param",
              "gsf_ptr": "param", "sg_ptr": "sg", "seed_ptr": "seed", "len_ptr": "i64", "maps_ptr": "acc"},
    optional=(("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_LEN", False, ("len_ptr",)),
              ("RESET_DELAY", True, ("h_ptr",)), ("SYNAPTIC", False, ("alpha_ptr", "gi_ptr")),
              ("HAS_GM", False, ("gm_ptr",)), ("HAS_GI", False, ("gi_ptr",))))
# The winner-take-all kernels (inhibition): fp32, no storage options, Leaky and Synaptic; one tile
# (8 samples of up to 256 neurons, 8 warps), as the launcher picks it for such a layer.
_WTA = dict(core={"RESET": tuple(RESET_CODES.values()), "SYNAPTIC": (False, True)},
            defaults=((RESET_SUBTRACT, False), (RESET_SUBTRACT, True)), dtypes=("fp32",), storage=False,
            fixed={"ROWS": 8, "BLOCK_N": 256}, options={"num_warps": 8})
WTA_FWD = KernelFlags(
    "wta_fwd_kernel", __package__ + ".wta_kernels", presence=("HAS_MEM0", "HAS_SYN0"),
    requires={"HAS_SYN0": "SYNAPTIC"},
    pointers={"x_ptr": "data", "mem0_ptr": "data", "syn0_ptr": "data", "alpha_ptr": "param", "decay_ptr": "param",
              "thr_ptr": "param", "spk_ptr": "data", "mem_ptr": "data", "syn_ptr": "data"},
    optional=(("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_SYN0", False, ("syn0_ptr",)),
              ("SYNAPTIC", False, ("alpha_ptr", "syn_ptr"))),
    **_WTA)
WTA_BWD = KernelFlags(
    "wta_bwd_kernel", __package__ + ".wta_kernels", presence=("HAS_MEM0", "HAS_SYN0", "HAS_GS", "HAS_GM", "HAS_GI"),
    requires={"HAS_SYN0": "SYNAPTIC", "HAS_GI": "SYNAPTIC"}, surrogate=True,
    pointers={"gs_ptr": "data", "gm_ptr": "data", "gi_ptr": "data", "mem_ptr": "data", "syn_ptr": "data",
              "mem0_ptr": "data", "syn0_ptr": "data", "alpha_ptr": "param", "decay_ptr": "param", "thr_ptr": "param",
              "sg_ptr": "sg", "dx_ptr": "data", "dmem0_ptr": "data", "dsyn0_ptr": "data", "dalpha_ptr": "acc",
              "ddecay_ptr": "acc", "dthr_ptr": "acc"},
    optional=(("HAS_MEM0", False, ("mem0_ptr", "dmem0_ptr")), ("HAS_SYN0", False, ("syn0_ptr", "dsyn0_ptr")),
              ("SYNAPTIC", False, ("alpha_ptr", "syn_ptr", "gi_ptr", "dalpha_ptr")), ("HAS_GS", False, ("gs_ptr",)),
              ("HAS_GM", False, ("gm_ptr",)), ("HAS_GI", False, ("gi_ptr",))),
    **_WTA)
KERNELS = (FWD, BWD, BWD_MAP)
UNMODELLED_KERNELS = (WTA_FWD, WTA_BWD)
"""Kernels compiled ahead of time like KERNELS but without traffic cases: a winner-take-all block
holds whole samples, [ROWS, BLOCK_N], not the one-dimensional neurons the memory model counts."""

# Element sizes in bytes of the tensors each time step reads and writes per neuron (fp32 unless
# named), and the scalars it loads per thread.
TRAFFIC = {
    "leaky_fwd": Traffic(FWD.variant("fp32", LEAKY), (4,), (4, 4)),  # x -> spikes, U
    # dL/dS, U[t-1] (also the next step's U) -> dx
    "leaky_bwd": Traffic(BWD.variant("fp32", LEAKY), (4, 4), (4,)),
    # + dL/dU from the returned membrane
    "leaky_bwd_mem_grad": Traffic(BWD.variant("fp32", LEAKY, ("HAS_GM",)), (4, 4, 4), (4,)),
    # dL/dS from spk.sum(): one value per step
    "leaky_bwd_summed_grad": Traffic(BWD.variant("fp32", LEAKY, ("GS_BCAST",)), (4,), (4,), 1),
    # + the pre-reset membrane h
    "leaky_fwd_immediate_reset": Traffic(FWD.variant("fp32", (RESET_SUBTRACT, False, False, False)), (4,), (4, 4, 4)),
    # dL/dS, h -> dx (U[t-1] only feeds parameter gradients)
    "leaky_bwd_immediate_reset": Traffic(BWD.variant("fp32", (RESET_SUBTRACT, False, False, False)), (4, 4), (4,)),
    "leaky_fwd_fp16": Traffic(FWD.variant("fp16", LEAKY), (2,), (2, 2)),
    "leaky_bwd_fp16": Traffic(BWD.variant("fp16", LEAKY), (2, 2), (2,)),
    # save_dtype=bf16: U stored in 2 bytes
    "leaky_fwd_save_bf16": Traffic(FWD.variant("fp32", LEAKY, save="bf16"), (4,), (4, 2)),
    "leaky_bwd_save_bf16": Traffic(BWD.variant("fp32", LEAKY, save="bf16"), (4, 2), (4,)),
    # spike_dtype=torch.bool: 1-byte spikes
    "leaky_fwd_bool_spikes": Traffic(FWD.variant("fp32", LEAKY, spike="bool"), (4,), (1, 4)),
    # x -> synaptic current, spikes, U
    "synaptic_fwd": Traffic(FWD.variant("fp32", SYNAPTIC), (4,), (4, 4, 4)),
    "synaptic_bwd": Traffic(BWD.variant("fp32", SYNAPTIC), (4, 4), (4,)),
    # Per-sample lengths (loaded once, before the loop) change nothing inside it: same bytes, same
    # full-width vectors (the per-neuron end is a select, not a load mask).
    "leaky_fwd_lengths": Traffic(FWD.variant("fp32", LEAKY, ("HAS_LEN",)), (4,), (4, 4)),
    "leaky_bwd_lengths": Traffic(BWD.variant("fp32", LEAKY, ("HAS_LEN",)), (4, 4), (4,)),
    "leaky_bwd_summed_grad_lengths": Traffic(BWD.variant("fp32", LEAKY, ("HAS_LEN", "GS_BCAST")), (4,), (4,), 1),
    # + dL/dsyn and I[t-1] (learnable alpha)
    # The chunked backward: pass 1 reads what the scan reads and stores nothing per step; pass 2 is
    # the scan itself (the chunk maps are read once per program, before its loop).
    "leaky_bwd_map": Traffic(BWD_MAP.variant("fp32", LEAKY), (4, 4), ()),
    "synaptic_bwd_map": Traffic(BWD_MAP.variant("fp32", SYNAPTIC, ("HAS_GI",)), (4, 4, 4), ()),
    "leaky_bwd_chunked": Traffic(BWD.variant("fp32", LEAKY, ("HAS_MAPS",)), (4, 4), (4,)),
    "synaptic_bwd_lengths": Traffic(BWD.variant("fp32", SYNAPTIC, ("HAS_LEN", "HAS_GI", "ALPHA_GRAD")),
                                    (4, 4, 4, 4), (4,)),
    # N % 16 == 4 (a last batch of 13 x 100 neurons): the kernels' N_DIV hint keeps every access a
    # full-width vector, where Triton alone would split it into 4-byte ones.
    "leaky_fwd_n4": Traffic(FWD.variant("fp32", LEAKY, n_div=4), (4,), (4, 4)),
    "leaky_bwd_n4": Traffic(BWD.variant("fp32", LEAKY, n_div=4), (4, 4), (4,)),
    "synaptic_bwd_map_n4": Traffic(BWD_MAP.variant("fp32", SYNAPTIC, ("HAS_GI",), n_div=4), (4, 4, 4), ()),
}
