"""Starting and stopping the processes the server depends on (Triton)."""
