"""Stage one: scan images, run a frozen ImageNet base, cache features in the store."""
