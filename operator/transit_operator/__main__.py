import sys

from transit_operator.cli import main

sys.exit(main())
