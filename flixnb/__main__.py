"`python -m flixnb` is the `flixnb` command."
import sys
from flixnb.run.cli import main
sys.exit(main())
