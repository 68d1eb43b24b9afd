"""snnTorch's Alpha neuron (two synaptic currents whose scaled sum is the membrane), from kernel to
oracle, laid out as the LIF family is (`tritonsnn.kernels.lif`): `kernels.py`, `launch.py`,
`torch_path.py`, `fused.py`, `op.py` (`tritonsnn::alpha_fwd` / `alpha_bwd`), `dispatch.py`, `naive.py`
(`tritonsnn.reference.alpha`), `aot.py` and `README.md`.
"""
