"""Training: losses, optimisers (Adam, Hessian-free), the loop and run directories."""
