"""API models of `transit.privatelink.io/v1alpha1` and the CRDs generated from them."""
