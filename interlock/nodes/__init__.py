"""One module per node of the request path; each node takes state and returns a partial update.

Import nodes from their modules, e.g. ``from interlock.nodes.retrieve import Retrieve``.
"""
