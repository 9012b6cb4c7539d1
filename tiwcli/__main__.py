"""`python -m tiwcli ...`: the entry point `torchrun` uses for multi-GPU training."""

from tiwcli.cli import main

if __name__ == "__main__":
    main()
