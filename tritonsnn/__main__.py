"""`python -m tritonsnn <command>`: `info` prints versions, devices and their backends (for a bug
report); `demo` trains a small spiking network and times it; `bench` times the fused neurons
against their competitors (see `tritonsnn.bench`); `precision` measures the gradient error of bf16
state storage (see `tritonsnn.precision`)."""
import sys

COMMANDS = {"info": "tritonsnn.info", "demo": "tritonsnn.demo", "bench": "tritonsnn.bench",
            "precision": "tritonsnn.precision"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m tritonsnn info\n"
              "       python -m tritonsnn demo [--device DEVICE] [--epochs N] [--steps T]\n"
              "       python -m tritonsnn bench [--device DEVICE] [--full] [--plot FILE.png] [--check]\n"
              "       python -m tritonsnn precision [--configs N] [--backend torch|triton]",
              file=sys.stderr)
        return 2
    module = __import__(COMMANDS[argv[0]], fromlist=["main"])
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
