"""Graph assembly: the default agent graph (``interlock.graphs.agent``)."""
