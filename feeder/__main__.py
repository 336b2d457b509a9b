import sys

from feeder.app.cli import main

sys.exit(main())
