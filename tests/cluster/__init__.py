"""Cross-component tests: a control plane and hollow nodes as real processes."""
