"""The thin single-step path (`tritonsnn._step`): after one checked call of a configuration, a
module's single steps run its settled `Step`. It must give bitwise what the checked path gives
(outputs, states, every gradient), for every neuron and setting; it must follow every change a
user can make between calls (parameter values, settings, dtypes, backend); and whatever the
checked path refuses, it still refuses."""
import pytest
import torch

import tritonsnn
from tritonsnn import _step
from tritonsnn.catalogue import NEURONS, cases
from tritonsnn.surrogate import SSO, FastSigmoid, custom_surrogate, fast_sigmoid
from conftest import DEVICE

T = 6


def _module(neuron, reset, delay, **kwargs):
    n = NEURONS[neuron]
    extra = {"reset_delay": delay} if n.reset_delay else {}
    return n.make(reset_mechanism=reset, **extra, **kwargs).to(DEVICE)


def _inputs(neuron, seed=0, shape=(3, 5)):
    n = NEURONS[neuron]
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(T, *shape, generator=gen) * n.input_scale + n.input_scale / 2).to(DEVICE)


def _run(module, x, checked: bool, spikes_in_loss: bool = True):
    """The stepped loop's outputs, final states and gradients (of x and every parameter); with
    `checked`, every call takes the checked path (its Steps forgotten before each call); without
    `spikes_in_loss`, the loss reads the states alone (no gradient reaches the spikes)."""
    x = x.clone().requires_grad_()
    module.zero_grad()
    module.reset_mem()
    outs = []
    for x_t in x.unbind(0):
        if checked:
            _step._PLANS.pop(module, None)
        outs.append(module(x_t))
    loss = sum((o.float() * (i + 1.5)).sum() for step in outs for i, o in enumerate(step) if i or spikes_in_loss)
    loss.backward()
    grads = [x.grad, *(p.grad for p in module.parameters())]
    return [o for step in outs for o in step], grads


def _assert_same(a, b):
    for u, v in zip([*a[0], *a[1]], [*b[0], *b[1]]):
        assert torch.equal(u, v)


ALL_LEARNT = {"learn_threshold": True, "graded_spikes_factor": 1.25, "learn_graded_spikes_factor": True}


@pytest.mark.parametrize("learnt", [{}, ALL_LEARNT, {"spike_grad": FastSigmoid.apply}],
                         ids=["decays", "all", "module-slope"])
@pytest.mark.parametrize("neuron,reset,delay", cases())
def test_steps_equal_the_checked_path_bitwise(backend, neuron, reset, delay, learnt):
    module = _module(neuron, reset, delay, **learnt)
    x = _inputs(neuron)
    _assert_same(_run(module, x, checked=False), _run(module, x, checked=True))


@pytest.mark.parametrize("learnt", [{}, ALL_LEARNT], ids=["decays", "all"])
@pytest.mark.parametrize("neuron,reset,delay", cases())
def test_steps_whose_spikes_take_no_gradient_equal_the_checked_path_bitwise(neuron, reset, delay, learnt):
    """A loss on the membrane alone (snnTorch's tutorial 5): the one-step backward leaves out the
    surrogate's term, which the checked path computes as zero; the same bits either way."""
    module = _module(neuron, reset, delay, **learnt)
    x = _inputs(neuron)
    _assert_same(_run(module, x, checked=False, spikes_in_loss=False),
                 _run(module, x, checked=True, spikes_in_loss=False))


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_stochastic_surrogate_steps_equal_the_checked_path_bitwise(neuron):
    """A stochastic surrogate steps through the fused Function (`_step.Step`), a seed drawn on
    each call as the checked path draws it: from the same generator state, the same bits."""
    module = _module(neuron, "subtract", True, spike_grad=SSO(), learn_threshold=True)
    x = _inputs(neuron)
    runs = []
    for checked in (False, True):
        torch.manual_seed(7)
        runs.append(_run(module, x, checked=checked))
    assert isinstance(next(iter(_step._PLANS[module].values())), _step.Step)
    _assert_same(*runs)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_steps_after_the_first_skip_the_checked_path(neuron, monkeypatch):
    module = NEURONS[neuron].make()
    checked = []
    original = type(module)._checked_forward
    monkeypatch.setattr(type(module), "_checked_forward",
                        lambda self, *a: checked.append(1) or original(self, *a))
    for x_t in _inputs(neuron).unbind(0):
        module(x_t)
    assert len(checked) == 2  # the first step (no state yet) and the second (a state)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_a_parameter_changed_between_steps_is_used(neuron):
    """Buffers changed behind autograd's back (`.data`), settings and surrogates changed by
    assignment: each next step computes with the new values."""
    n = NEURONS[neuron]
    fast, slow = n.module(threshold=n.threshold, **n.params), n.module(threshold=n.threshold, **n.params)
    x = _inputs(neuron, seed=3)
    for t, x_t in enumerate(x.unbind(0)):
        if t == 2:
            for m in (fast, slow):
                m.threshold.data.fill_(n.threshold * 0.5)
        if t == 3:
            for m in (fast, slow):
                m.reset_mechanism = "zero" if m.reset_mechanism == "subtract" else "subtract"
        if t == 4:
            for m in (fast, slow):
                m.spike_grad = fast_sigmoid(slope=5.0)
        _step._PLANS.pop(slow, None)
        for a, b in zip(fast(x_t), slow(x_t)):
            assert torch.equal(a, b)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_every_parameter_value_changed_behind_autograd_is_used(neuron):
    """Every tensor the step's parameters come from (`step_inputs`), scaled in place through
    `.data` (which autograd's version counter does not see) before the third step."""
    n = NEURONS[neuron]
    fast, slow = n.module(threshold=n.threshold, **n.params), n.module(threshold=n.threshold, **n.params)
    names = [name for name in fast.step_inputs if isinstance(getattr(fast, name), torch.Tensor)]
    assert {"beta", "threshold", "graded_spikes_factor"} <= set(names)
    for t, x_t in enumerate(_inputs(neuron, seed=4).unbind(0)):
        if t in (3, 4):
            for m in (fast, slow):
                getattr(m, names[t - 3] if t == 3 else names[-1]).data.mul_(0.97)
                getattr(m, "threshold").data.mul_(0.97)
        _step._PLANS.pop(slow, None)
        for a, b in zip(fast(x_t), slow(x_t)):
            assert torch.equal(a, b)


@pytest.mark.parametrize("learnt", [False, True])
@pytest.mark.parametrize("neuron", list(NEURONS))
def test_parameters_are_derived_again_only_when_a_value_changes(neuron, learnt, monkeypatch):
    """Unchanged numbers and CPU scalars: the parameters derived on the first settled step are
    kept until a value changes. A learnt parameter (its graph is the step's): derived each step."""
    n = NEURONS[neuron]
    module = n.module(threshold=n.threshold, learn_threshold=learnt, **n.params)
    derived = []
    original = type(module)._step_parameters
    monkeypatch.setattr(type(module), "_step_parameters", lambda self, x: derived.append(1) or original(self, x))
    for t, x_t in enumerate(_inputs(neuron).unbind(0)):
        if t == 4:
            module.threshold.data.mul_(0.5)
        module(x_t)
    # the first two steps take the checked path; then the first settled step, and the change
    assert len(derived) == (T - 2 if learnt else 2)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_loops_from_no_state_derive_each_keys_parameters_once(neuron, monkeypatch):
    """snnTorch's loop starts each sequence from `init_leaky()`, no state: its first step has a
    key of its own. Each key keeps what it derived, so the sequences after the first derive
    nothing, and the first step of each does not undo what the later steps keep."""
    n = NEURONS[neuron]
    module = n.module(threshold=n.threshold, **n.params)
    derived = []
    original = type(module)._step_parameters
    monkeypatch.setattr(type(module), "_step_parameters", lambda self, x: derived.append(1) or original(self, x))
    for _ in range(3):
        states = [torch.empty(0) for _ in module.state_names]  # what `init_leaky()` returns
        for x_t in _inputs(neuron).unbind(0):
            out = module(x_t, *states)
            states = out[1:]
    # the first sequence's first two steps (no state, then states) take the checked path; its
    # third settles the states' key, the second sequence's first step the key without states
    assert len(derived) == 2


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_parameters_kept_under_inference_mode_stay_there(neuron):
    """Parameters first derived under inference mode are inference tensors: a training loop
    after an evaluation loop (the same key: states given) derives its own, and gets what a
    fresh module gets."""
    n = NEURONS[neuron]
    evaluated, fresh = n.module(threshold=n.threshold, **n.params), n.module(threshold=n.threshold, **n.params)

    def loop(module, x):
        states = [torch.zeros_like(x[0]) for _ in module.state_names]
        outs = []
        for x_t in x.unbind(0):
            out = module(x_t, *states)
            states = out[1:]
            outs += out
        return outs

    with torch.inference_mode():
        loop(evaluated, _inputs(neuron, seed=2))
    grads = []
    for module in (evaluated, fresh):
        x = _inputs(neuron).requires_grad_()
        outs = loop(module, x)
        sum((o * (i % 3 + 1)).sum() for i, o in enumerate(outs)).backward()
        grads.append([*outs, x.grad])
    for a, b in zip(*grads):
        assert torch.equal(a, b)


def test_what_identifies_kept_parameters():
    def values(raw):
        holder = torch.nn.Module()  # the values as its attributes, tensors as buffers
        holder.step_inputs = tuple(f"v{i}" for i in range(len(raw)))
        for name, v in zip(holder.step_inputs, raw):
            holder.register_buffer(name, v) if isinstance(v, torch.Tensor) else setattr(holder, name, v)
        return _step._values(holder)

    assert values((0.0,)) != values((-0.0,)) and values((torch.tensor(0.0),)) != values((torch.tensor(-0.0),))
    assert values((1,)) != values((True,)) != values((1.0,))
    assert values((torch.tensor(1.0),)) != values((torch.tensor(1.0, dtype=torch.float64),))
    assert values((torch.tensor(1.0),)) != values((torch.tensor([1.0]),))
    assert values((torch.tensor(0.9),)) == values((torch.tensor(0.9),))
    for unread in (torch.ones(2), torch.ones((), requires_grad=True), torch.ones((), device="meta")):
        assert values((0.5, unread)) is None
    with torch.inference_mode():
        made_there = torch.ones(())
    assert values((made_there,)) is None


def test_a_new_dtype_or_backend_gets_its_own_step():
    lif = tritonsnn.Leaky(beta=0.9)
    x = _inputs("leaky")
    for x_t in x.unbind(0):
        lif(x_t)
    kept = len(_step._PLANS[lif])
    mem = lif.mem.detach().clone()
    spk, new = lif(x[0].double())  # fp64 input, fp32 state: the checked path's promotion
    expected = tritonsnn.functional.leaky(x[0].double()[None], beta=lif.beta, mem=mem)
    assert torch.equal(spk, expected[0][0]) and torch.equal(new, expected[1][0])
    assert len(_step._PLANS[lif]) == kept + 1
    previous = tritonsnn.get_backend()
    try:
        tritonsnn.set_backend("torch" if previous != "torch" else "auto")
        lif(x[1].double())
    finally:
        tritonsnn.set_backend(previous)
    assert len(_step._PLANS[lif]) == kept + 2


def test_refusals_survive_the_step():
    lif = tritonsnn.Leaky(beta=0.9)
    x = _inputs("leaky")
    for x_t in x.unbind(0):
        lif(x_t)
    with pytest.raises(ValueError, match="mem has shape"):
        lif(x[0], torch.zeros(2, 2))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        lif([1.0, 2.0])
    hidden = tritonsnn.Leaky(beta=0.9, init_hidden=True)
    for x_t in x.unbind(0):
        hidden(x_t)
    with pytest.raises(TypeError, match="should not be passed"):
        hidden(x[0], torch.zeros(3, 5))


def test_broadcast_and_inference_states_take_the_checked_path():
    lif = tritonsnn.Leaky(beta=0.9)
    x = _inputs("leaky")
    lif(x[0])
    lif(x[1])
    spk, mem = lif(x[2], torch.full((5,), 0.3))  # broadcasts to [3, 5]
    expected = tritonsnn.functional.leaky(x[2][None], beta=0.9, mem=torch.full((3, 5), 0.3))
    assert torch.equal(mem, expected[1][0])
    with torch.inference_mode():
        _, carried = lif(x[3])
    x_t = x[4].clone().requires_grad_()
    spk, mem = lif(x_t, carried)  # an inference tensor, used by value
    mem.sum().backward()
    assert x_t.grad is not None


def test_init_hidden_steps_return_what_the_checked_path_returns():
    for output in (False, True):
        fast, slow = (tritonsnn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True, output=output) for _ in range(2))
        for x_t in _inputs("synaptic").unbind(0):
            _step._PLANS.pop(slow, None)
            a, b = fast(x_t), slow(x_t)
            for u, v in zip(a if output else (a,), b if output else (b,)):
                assert torch.equal(u, v)
        assert torch.equal(fast.mem, slow.mem) and torch.equal(fast.syn, slow.syn)


def test_unfused_surrogates_and_binary_spikes_keep_the_checked_path():
    python = tritonsnn.Leaky(beta=0.9, spike_grad=custom_surrogate(lambda input_, grad_input, out: grad_input * 0.5))
    binary = tritonsnn.Leaky(beta=0.9, spike_dtype=torch.bool)
    x = _inputs("leaky")
    with pytest.warns(UserWarning):
        for x_t in x.unbind(0):
            python(x_t)
    with torch.no_grad():
        for x_t in x.unbind(0):
            spk, _ = binary(x_t)
    assert spk.dtype == torch.bool
    assert all(step is None for step in _step._PLANS[python].values())
    assert all(step is None for step in _step._PLANS[binary].values())


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_cpu_steps_run_the_one_step_function(neuron):
    """On the torch path a settled step with the reset delayed is one `TorchStep` node; with the
    reset not delayed it is the fused Function's, behind a squeeze."""
    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("torch")
    try:
        module = NEURONS[neuron].make()
        for x_t in _inputs(neuron).unbind(0):
            spk = module(x_t.requires_grad_())[0]
        assert spk.grad_fn.name() == "TorchStepBackward"
        if NEURONS[neuron].reset_delay:
            immediate = NEURONS[neuron].make(reset_delay=False)
            for x_t in _inputs(neuron).unbind(0):
                spk = immediate(x_t.requires_grad_())[0]
            assert spk.grad_fn.name() == "SqueezeBackward1"
    finally:
        tritonsnn.set_backend(previous)


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_double_backward_through_a_step_is_a_clear_error(backend, neuron):
    module = NEURONS[neuron].make()
    x = _inputs(neuron).requires_grad_()
    for x_t in x.unbind(0):
        spk, *states = module(x_t)
    (g,) = torch.autograd.grad(spk.sum() + states[-1].sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward .* not supported"):
        g.sum().backward()


@pytest.mark.parametrize("neuron,reset,delay", cases())
def test_steps_without_a_graph_equal_the_checked_path_and_record_no_node(backend, neuron, reset, delay):
    """An evaluation loop (no_grad, or grad on with nothing requiring it): the torch path's steps
    run their arithmetic without an autograd node, bitwise what the checked path gives."""
    x = _inputs(neuron)
    for context in (torch.no_grad, torch.enable_grad):
        results = []
        for checked in (False, True):
            fixed = {k: False for k in NEURONS[neuron].module_params if k.startswith("learn_")}
            module = _module(neuron, reset, delay, **fixed)
            with context():
                outs = []
                for x_t in x.unbind(0):
                    if checked:
                        _step._PLANS.pop(module, None)
                    outs.append(module(x_t))
            results.append([o for step in outs for o in step])
        for u, v in zip(*results):
            assert torch.equal(u, v) and u.grad_fn is None and not u.requires_grad


@pytest.mark.parametrize("neuron", list(NEURONS))
def test_a_learnt_parameter_keeps_the_steps_node_for_an_input_without_grad(neuron):
    """A parameter requiring grad needs the node even when the input does not."""
    module = NEURONS[neuron].make(learn_threshold=True)
    for x_t in _inputs(neuron).unbind(0):
        spk, *states = module(x_t)
    (spk.sum() + states[-1].sum()).backward()
    assert module.threshold.grad is not None and module.threshold.grad.abs().sum() > 0


@pytest.mark.parametrize("neuron", [n for n in NEURONS if NEURONS[n].family in ("lif", "alpha")])
def test_cpu_steps_without_a_graph_skip_the_one_step_function(neuron, monkeypatch):
    import importlib

    previous = tritonsnn.get_backend()
    tritonsnn.set_backend("torch")
    try:
        function = importlib.import_module(f"tritonsnn.kernels.{NEURONS[neuron].family}.step").TorchStep
        calls = []
        original = function.forward
        monkeypatch.setattr(function, "forward", staticmethod(lambda *a: calls.append(1) or original(*a)))
        fixed = {k: False for k in NEURONS[neuron].module_params if k.startswith("learn_")}
        module = NEURONS[neuron].make(**fixed)
        with torch.no_grad():
            for x_t in _inputs(neuron).unbind(0):
                module(x_t)
        assert not calls
        for x_t in _inputs(neuron).unbind(0):
            module(x_t.requires_grad_())
        assert len(calls) == T  # settled by the loop above
    finally:
        tritonsnn.set_backend(previous)
