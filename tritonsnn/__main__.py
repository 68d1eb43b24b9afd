"""`python -m tritonsnn <command>`: `demo` trains a small spiking network and times it."""
import sys

COMMANDS = {"demo": "tritonsnn.demo"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m tritonsnn demo [--device DEVICE] [--epochs N] [--steps T]", file=sys.stderr)
        return 2
    module = __import__(COMMANDS[argv[0]], fromlist=["main"])
    module.main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
