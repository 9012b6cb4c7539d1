"""One module per `tiw` command; `tiwcli/cli.py` registers them."""
