"""Where users, runs, history and watches are kept: the contract and one module per back end."""
