__version__ = "0.2.0"

from .core import alias_moved_modules as _alias
_alias()   # flixnb 0.1 import paths (flixnb.segment, …) load the module from its layer, with a DeprecationWarning
