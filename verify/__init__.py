"""The equivalence verifier: the re-creation and the port must compute one network."""
