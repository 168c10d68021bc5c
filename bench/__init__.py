"""The benchmarks of `make bench`: the product's figures beside anchors measured in the same run."""
