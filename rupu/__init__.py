from rupu.version import __version__ as __version__
