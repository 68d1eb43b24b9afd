"""The benchmark harness (`tritonsnn.bench`) works: cases build, every implementation runs and
agrees with tritonsnn, memory is accounted, and the regression check flags a ratio that fell.
No timing is asserted here; speed lives in `perf/` and `python -m tritonsnn bench --check`."""
import json

import pytest
import torch

from tritonsnn import bench

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("auto_backend")


@pytest.mark.parametrize("neuron", ["leaky", "synaptic", "lapicque", "alpha"])
def test_every_implementation_computes_the_same_spikes(neuron):
    case = bench.neuron_case(neuron, "fwd+bwd", (6, 2, 16), torch.float32, CPU, compiled=False)
    assert {bench.SUBJECT, bench.REFERENCE, "snntorch"} <= set(case.impls)
    x = torch.randn(case.shape) + 0.5
    expected = case.impls[bench.SUBJECT](x)
    for impl, run in case.impls.items():
        if impl != "spikingjelly":  # the closest LIFNode resets before the decay: other spikes
            assert torch.equal(run(x), expected), impl


@pytest.mark.parametrize("neuron", ["leaky", "synaptic", "lapicque", "alpha"])
def test_every_stepped_loop_computes_the_same_spikes(neuron):
    """The tutorials' loop (one call per step) of tritonsnn, the reference and snnTorch, run twice
    (the module's state starts again at each run)."""
    impls = bench.stepped_impls(neuron, CPU)
    assert {bench.SUBJECT, bench.REFERENCE, "snntorch"} <= set(impls)
    x = torch.randn(6, 2, 16) + 0.5
    expected = bench.neuron_case(neuron, "fwd", (6, 2, 16), torch.float32, CPU, compiled=False).impls[bench.SUBJECT](x)
    for impl, run in impls.items():
        for _ in range(2):
            assert torch.allclose(run(x), expected), impl


def test_time_case_reports_speed_and_memory():
    case = bench.neuron_case("leaky", "fwd+bwd", (5, 2, 8), torch.float32, CPU, compiled=False)
    for mode in ("fwd", "bwd", "fwd+bwd"):
        case.mode = mode
        r = bench.time_case(case, bench.SUBJECT, CPU, rounds=2, warmup=1)
        assert r["median_s"] > 0 and r["neuron_steps_per_s"] > 0
        # The membrane; then beta, threshold, graded_spikes_factor and the surrogate's parameters.
        assert r["saved_bytes"] == 5 * 2 * 8 * 4 + 3 * 4 + 2 * 8
    naive = bench.time_case(case, bench.REFERENCE, CPU, rounds=1, warmup=0)
    assert naive["saved_bytes"] > r["saved_bytes"]


def test_only_the_networks_take_their_input_as_data():
    """A training step differentiates a layer's input (it comes from the layer before), never a
    network's data: the network cases time no gradient of their input."""
    networks = ("linear+leaky", "conv+leaky", "rleaky SHD", "rleaky sparch-like")
    for case in bench.suite(CPU, full=False):
        assert case.data_input == case.name.startswith(networks), case.name
        run, x, g = bench.prepare(case, bench.SUBJECT, CPU)
        setup, _ = bench.round_fns(case, run, x, g, CPU)
        (xs,), _ = setup()
        assert xs.requires_grad != case.data_input


def test_short_suite_has_every_workload():
    names = [c.name for c in bench.suite(CPU, full=False)]
    for workload in ("leaky fwd ", "leaky bwd ", "leaky fwd+bwd", "synaptic", "lapicque", "alpha",
                     "linear+leaky", "conv+leaky", "rleaky layer", "rleaky conv3x3 layer", "rleaky SHD",
                     "rleaky sparch-like",
                     *(f"{n} stepped fwd+bwd" for n in ("leaky", "synaptic", "lapicque",
                                                                                      "alpha"))):
        assert any(workload in n for n in names), workload


def test_check_flags_a_ratio_that_fell(tmp_path):
    def report(t_subject):
        return {"results": [{"case": "c fwd+bwd", "impl": bench.SUBJECT, "best_s": t_subject},
                            {"case": "c fwd+bwd", "impl": bench.REFERENCE, "best_s": 4.0},
                            {"case": "c fwd", "impl": bench.SUBJECT, "best_s": 1.0},
                            {"case": "c fwd", "impl": bench.REFERENCE, "best_s": 4.0}]}

    baseline = tmp_path / "cpu.json"
    baseline.write_text(json.dumps({"ratios": bench.baseline_ratios(report(1.0))}))
    assert bench.check(report(1.0), baseline) == []
    assert bench.check(report(1.3), baseline) == []      # 3.08x: within 25 %
    assert len(bench.check(report(1.4), baseline)) == 1  # 2.86x: more than 25 % below 4x
    assert bench.check({"results": []}, baseline) == ["c fwd+bwd: not measured"]  # only fwd+bwd is gated


def test_check_counts_a_fall_only_when_a_second_timing_confirms_it(tmp_path):
    def report(t_subject):
        return {"results": [{"case": "c fwd+bwd", "impl": bench.SUBJECT, "best_s": t_subject},
                            {"case": "c fwd+bwd", "impl": bench.REFERENCE, "best_s": 4.0},
                            {"case": "d fwd+bwd", "impl": bench.SUBJECT, "best_s": 1.0},
                            {"case": "d fwd+bwd", "impl": bench.REFERENCE, "best_s": 4.0}]}

    baseline = tmp_path / "cpu.json"
    baseline.write_text(json.dumps({"ratios": bench.baseline_ratios(report(1.0))}))
    asked = []

    def retime(t_subject):
        def run(select):
            asked.append(select)
            return report(t_subject)
        return run

    assert bench.confirmed(report(1.0), baseline, retime(1.0)) == ([], None) and asked == []
    failures, again = bench.confirmed(report(1.4), baseline, retime(1.0))  # a noisy first timing
    assert failures == [] and again is not None and asked == [r"^(c\ fwd\+bwd)$"]
    failures, _ = bench.confirmed(report(1.4), baseline, retime(1.5))  # fell twice: a regression
    assert failures == ["c fwd+bwd: 2.67x the reference, baseline 4.00x"]


def test_table_lists_competitors():
    case = bench.neuron_case("leaky", "fwd+bwd", (4, 2, 8), torch.float32, CPU, compiled=False)
    results = [bench.time_case(case, impl, CPU, rounds=1, warmup=0) for impl in (bench.SUBJECT, bench.REFERENCE)]
    text = bench.table({"device": "cpu", "copy_bandwidth": None, "results": results})
    assert "tritonsnn" in text and "reference" in text and "faster" in text


def test_recurrent_cases_run_the_same_network_in_each_implementation():
    """The recurrent workloads' implementations compute the same outputs from the same weights."""
    gen = torch.Generator().manual_seed(0)
    for impls, x in ((bench.recurrent_layer_impls(5, CPU), torch.rand(4, 3, 5, generator=gen) + 0.5),
                     (bench.recurrent_layer_impls(2, CPU, 3), torch.rand(4, 3, 2, 5, 5, generator=gen) + 0.5),
                     (bench.recurrent_impls((6, 5, 4, 3), CPU), torch.rand(4, 3, 6, generator=gen) * 4)):
        outputs = {name: run(x) for name, run in impls.items()}
        assert set(outputs) == {bench.SUBJECT, bench.REFERENCE, "snntorch"}
        for name, out in outputs.items():
            torch.testing.assert_close(out, outputs[bench.SUBJECT], msg=name)
