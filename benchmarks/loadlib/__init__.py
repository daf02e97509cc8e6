"""The parts of benchmarks/load.py: the plan, the generator's floor model, the generator and product processes."""
