"""The Exchange Web Services (EWS) front of the simulator, over the protocol-neutral mail store."""
