"""The recurrent LIF family's kernels for ahead-of-time compilation (`python -m tritonsnn.aot`):
the flags their variants are formed from, at the tiles and options the launcher fixes. fp32 only,
and no storage options: that is what `fused.applies` sends them."""
from tritonsnn._aot_spec import KernelFlags
from tritonsnn.kernels.codes import RESET_CODES, RESET_SUBTRACT
from tritonsnn.kernels.rlif.launch import BLOCK_R, GPU_BLOCKS, PRECISION

BLOCK_F, BLOCK_K, NUM_WARPS, NUM_STAGES = GPU_BLOCKS
_TILES = dict(dtypes=("fp32",), storage=False,
              fixed={"BLOCK_R": BLOCK_R, "BLOCK_F": BLOCK_F, "BLOCK_K": BLOCK_K, "PRECISION": PRECISION},
              options={"num_warps": NUM_WARPS, "num_stages": NUM_STAGES})
_CORE = {"RESET": tuple(RESET_CODES.values()), "SYNAPTIC": (False, True), "ONE_TO_ONE": (False, True)}
# RLeaky's and RSynaptic's, with a Linear term
_DEFAULTS = ((RESET_SUBTRACT, False, False), (RESET_SUBTRACT, True, False))

FWD = KernelFlags(
    "rlif_fwd_kernel", __package__ + ".kernels", core=_CORE,
    presence=("HAS_BIAS", "HAS_SPK0", "HAS_SYN0", "HAS_MEM0", "HAS_LEN"), defaults=_DEFAULTS,
    requires={"HAS_SYN0": "SYNAPTIC"},
    pointers={"x_ptr": "data", "w_ptr": "data", "bias_ptr": "data", "spk0_ptr": "data", "syn0_ptr": "data",
              "mem0_ptr": "data", "v_ptr": "param", "alpha_ptr": "param", "decay_ptr": "param", "thr_ptr": "param",
              "gsf_ptr": "param", "len_ptr": "i64", "spk_ptr": "data", "syn_ptr": "data", "mem_ptr": "data"},
    optional=(("SYNAPTIC", False, ("alpha_ptr", "syn_ptr")), ("ONE_TO_ONE", False, ("v_ptr",)),
              ("ONE_TO_ONE", True, ("w_ptr", "bias_ptr")), ("HAS_BIAS", False, ("bias_ptr",)),
              ("HAS_SPK0", False, ("spk0_ptr",)), ("HAS_SYN0", False, ("syn0_ptr",)),
              ("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_LEN", False, ("len_ptr",))),
    **_TILES)
BWD = KernelFlags(
    "rlif_bwd_kernel", __package__ + ".kernels", core=_CORE,
    presence=("HAS_GS", "HAS_GM", "HAS_GI", "HAS_MEM0", "HAS_LEN", "PARAM_GRAD"), defaults=_DEFAULTS,
    requires={"HAS_GI": "SYNAPTIC"}, surrogate=True,
    pointers={"gs_ptr": "data", "gm_ptr": "data", "gi_ptr": "data", "w_ptr": "data", "v_ptr": "param",
              "mem_ptr": "data",
              "mem0_ptr": "data", "alpha_ptr": "param", "decay_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param",
              "sg_ptr": "sg", "len_ptr": "i64", "dx_ptr": "data", "db_ptr": "acc", "ddecay_ptr": "acc",
              "dthr_ptr": "acc", "dgsf_ptr": "acc"},
    optional=(("SYNAPTIC", False, ("alpha_ptr", "db_ptr")), ("ONE_TO_ONE", False, ("v_ptr",)),
              ("ONE_TO_ONE", True, ("w_ptr",)), ("HAS_GS", False, ("gs_ptr",)),
              ("HAS_GM", False, ("gm_ptr",)), ("HAS_GI", False, ("gi_ptr",)), ("HAS_MEM0", False, ("mem0_ptr",)),
              ("HAS_LEN", False, ("len_ptr",)), ("PARAM_GRAD", False, ("ddecay_ptr", "dthr_ptr", "dgsf_ptr"))),
    **_TILES)
KERNELS = (FWD, BWD)
