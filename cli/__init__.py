"""The command line: click commands, exit codes and the `hoot: error:` lines.

The top layer: it may import every other hoot package; none imports it.
"""
