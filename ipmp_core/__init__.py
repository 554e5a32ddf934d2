"""clearview-ipmp: Solaris-style IP multipathing for Linux and Pacemaker."""

# The one version of the project: setup.cfg reads it (version = attr:), every command's
# --version prints it, and it is the agents' meta-data <resource-agent version=...>.
__version__ = "0.1.0"
