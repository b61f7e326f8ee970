"`python -m flixnb` is the `flixnb` command."
import sys
from flixnb.cli import main
sys.exit(main())
