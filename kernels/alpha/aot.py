"""The Alpha family's kernels for ahead-of-time compilation (`python -m tritonsnn.aot`): the flags
their variants are formed from, and the time-loop memory traffic each main case must show."""
from tritonsnn._aot_spec import KernelFlags, Traffic
from tritonsnn.kernels.codes import RESET_CODES, RESET_ZERO

# The core the dtype variants and traffic cases use (every reset is compiled in fp32 as well).
ALPHA = (RESET_ZERO,)

FWD = KernelFlags(
    "alpha_fwd_kernel", __package__ + ".kernels",
    core={"RESET": tuple(RESET_CODES.values())}, presence=("HAS_EXC0", "HAS_INH0", "HAS_MEM0", "HAS_LEN", "KEEP_ACC"),
    defaults=(ALPHA,),
    pointers={"x_ptr": "data", "exc0_ptr": "data", "inh0_ptr": "data", "mem0_ptr": "data",
              "a_ptr": "param", "b_ptr": "param", "tau_ptr": "param", "thr_ptr": "param",
              "gsf_ptr": "param", "len_ptr": "i64", "spk_ptr": "spike", "exc_ptr": "state",
              "inh_ptr": "state", "mem_ptr": "state", "exc_acc_ptr": "acc", "inh_acc_ptr": "acc"},
    optional=(("HAS_EXC0", False, ("exc0_ptr",)), ("HAS_INH0", False, ("inh0_ptr",)),
              ("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_LEN", False, ("len_ptr",)),
              ("KEEP_ACC", False, ("exc_acc_ptr", "inh_acc_ptr"))))
BWD = KernelFlags(
    "alpha_bwd_kernel", __package__ + ".kernels",
    core={"RESET": tuple(RESET_CODES.values())}, defaults=(ALPHA,), surrogate=True, requires={"GM_BCAST": "HAS_GM"},
    presence=("HAS_EXC0", "HAS_INH0", "HAS_MEM0", "HAS_GE", "HAS_GI", "HAS_GM", "PARAM_GRAD", "DECAY_GRAD",
              "GS_BCAST", "GM_BCAST", "HAS_LEN"),
    pointers={"gs_ptr": "data", "ge_ptr": "state", "gi_ptr": "state", "gm_ptr": "state",
              "mem_ptr": "state", "exc_ptr": "state", "inh_ptr": "state", "exc0_ptr": "data",
              "inh0_ptr": "data", "mem0_ptr": "data", "a_ptr": "param", "b_ptr": "param",
              "tau_ptr": "param", "thr_ptr": "param", "gsf_ptr": "param", "sg_ptr": "sg", "seed_ptr": "seed",
              "len_ptr": "i64", "dx_ptr": "data", "dexc0_ptr": "data", "dinh0_ptr": "data", "da_ptr": "acc",
              "db_ptr": "acc", "dtau_ptr": "acc", "dthr_ptr": "acc", "dgsf_ptr": "acc"},
    optional=(("HAS_EXC0", False, ("exc0_ptr", "dexc0_ptr")), ("HAS_INH0", False, ("inh0_ptr", "dinh0_ptr")),
              ("HAS_MEM0", False, ("mem0_ptr",)), ("HAS_GE", False, ("ge_ptr",)),
              ("HAS_GI", False, ("gi_ptr",)), ("HAS_GM", False, ("gm_ptr",)),
              ("PARAM_GRAD", False, ("dthr_ptr", "dgsf_ptr")), ("HAS_LEN", False, ("len_ptr",)),
              ("DECAY_GRAD", False, ("exc_ptr", "inh_ptr", "da_ptr", "db_ptr", "dtau_ptr"))))
KERNELS = (FWD, BWD)

# Element sizes in bytes of the tensors each time step reads and writes per neuron (fp32 unless
# named), and the scalars it loads per thread.
TRAFFIC = {
    # x -> spikes, excitatory, inhibitory, U
    "alpha_fwd": Traffic(FWD.variant("fp32", ALPHA), (4,), (4, 4, 4, 4)),
    # Learnable decays with fp16 states: the currents kept in fp32 as well.
    "alpha_fwd_fp16_keep_currents": Traffic(FWD.variant("fp16", ALPHA, ("KEEP_ACC",)), (2,), (2, 2, 2, 2, 4, 4)),
    "alpha_bwd": Traffic(BWD.variant("fp32", ALPHA), (4, 4), (4,)),
    "alpha_fwd_lengths": Traffic(FWD.variant("fp32", ALPHA, ("HAS_LEN",)), (4,), (4, 4, 4, 4)),
    # + E[t-1] and I[t-1] (learnable decays)
    "alpha_bwd_lengths": Traffic(BWD.variant("fp32", ALPHA, ("HAS_LEN", "DECAY_GRAD")), (4, 4, 4, 4), (4,)),
    # N % 16 == 4: full-width vectors through the N_DIV hint (as kernels/lif/aot.py's _n4 cases).
    "alpha_fwd_n4": Traffic(FWD.variant("fp32", ALPHA, n_div=4), (4,), (4, 4, 4, 4)),
    "alpha_bwd_n4": Traffic(BWD.variant("fp32", ALPHA, ("HAS_GM",), n_div=4), (4, 4, 4), (4,)),
}
