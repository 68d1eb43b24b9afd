"""SLSTM's fused kernels for ahead-of-time compilation (`python -m tritonsnn.aot`): the flags
their variants are formed from, at the tiles and options the launcher uses (`launch.GPU_BLOCKS`).
fp32 only, and no storage options: that is what `fused.applies` sends them."""
from tritonsnn._aot_spec import KernelFlags
from tritonsnn.kernels.codes import RESET_CODES, RESET_NONE
from tritonsnn.kernels.lstm.launch import GPU_BLOCKS
from tritonsnn.kernels.rlif.launch import BLOCK_R, PRECISION

BLOCK_F, BLOCK_K, NUM_WARPS, NUM_STAGES = GPU_BLOCKS
_SLSTM = dict(core={"RESET": tuple(RESET_CODES.values())}, defaults=((RESET_NONE,),), dtypes=("fp32",),
              storage=False, fixed={"BLOCK_R": BLOCK_R, "BLOCK_F": BLOCK_F, "BLOCK_K": BLOCK_K, "PRECISION": PRECISION},
              options={"num_warps": NUM_WARPS, "num_stages": NUM_STAGES})

FWD = KernelFlags(
    "slstm_fwd_kernel", __package__ + ".kernels", presence=("HAS_SYN0", "HAS_MEM0"),
    pointers={"pre_ptr": "data", "w_ptr": "data", "syn0_ptr": "data", "mem0_ptr": "data", "thr_ptr": "param",
              "gsf_ptr": "param", "spk_ptr": "data", "syn_ptr": "data", "mem_ptr": "data", "gates_ptr": "data"},
    optional=(("HAS_SYN0", False, ("syn0_ptr",)), ("HAS_MEM0", False, ("mem0_ptr",))), **_SLSTM)
BWD = KernelFlags(
    "slstm_bwd_kernel", __package__ + ".kernels", presence=("HAS_SYN0", "HAS_MEM0", "HAS_GS", "HAS_GM", "HAS_GC"),
    surrogate=True,
    pointers={"gs_ptr": "data", "gm_ptr": "data", "gc_ptr": "data", "w_ptr": "data", "syn_ptr": "data",
              "mem_ptr": "data", "gates_ptr": "data", "syn0_ptr": "data", "mem0_ptr": "data", "thr_ptr": "param",
              "gsf_ptr": "param", "sg_ptr": "sg", "dg_ptr": "acc", "dc_ptr": "acc", "dthr_ptr": "acc"},
    optional=(("HAS_SYN0", False, ("syn0_ptr",)), ("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_GS", False, ("gs_ptr",)),
              ("HAS_GM", False, ("gm_ptr",)), ("HAS_GC", False, ("gc_ptr",))), **_SLSTM)
KERNELS = (FWD, BWD)
