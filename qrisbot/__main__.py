import sys

from qrisbot.cli import main

sys.exit(main())
